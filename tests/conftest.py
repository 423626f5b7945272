"""Fixtures every test directory may use by name."""

from __future__ import annotations

import functools

import pytest

from zeta_console import demo

pytest_plugins = ["tests.xdg", "tests.llama_fleet"]  # isolated_xdg; llama_servers, tiny_model


@pytest.fixture
def fast_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    """`--demo` with the emulated models 50 times faster than real ones. (open_demo is patched: it passes its
    own time_scale to demo_fleet, which a time_scale bound into demo_fleet would not survive.)"""
    monkeypatch.setattr(demo, "open_demo", functools.partial(demo.open_demo, time_scale=50.0))
