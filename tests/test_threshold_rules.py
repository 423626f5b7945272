"""One rule for thresholds: a value the configuration file refuses, the router's live
`set_threshold` refuses with the same words, and a value the file accepts it accepts."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from zeta_console.config import ConfigError, load_settings
from zeta_console.router.router import ZetaDynamicRouter
from zeta_console.settings import Settings

CASES = [
    ("ttft_s", "-1"),
    ("ttft_s", "0"),
    ("ttft_s", "100000"),  # over a day
    ("ttft_s", "fast"),
    ("ttft_s", "500ms"),
    ("latency_s", "2m"),
    ("queue", "1.5"),
    ("queue", "0"),
    ("queue", "lots"),
    ("queue", "200000"),
    ("queue", "4"),
    ("error_rate", "0"),
    ("error_rate", "1.5"),
    ("error_rate", "1"),
]


def from_config(tmp_path: Path, name: str, text: str) -> tuple[float | None, str | None]:
    path = tmp_path / "config.yaml"
    path.write_text(f"thresholds:\n  {name}: {text}\n")
    try:
        return getattr(load_settings(path, overrides=False).thresholds, name), None
    except ConfigError as error:
        return None, str(error).split(": ", 1)[1]  # drop "file:line"


def from_router(name: str, text: str) -> tuple[float | None, str | None]:
    router = ZetaDynamicRouter(Settings())
    try:
        router.controls.set_threshold(name, text)
    except ValueError as error:
        return None, str(error)
    return getattr(router.snapshot().thresholds, name), None


@pytest.mark.parametrize(("name", "text"), CASES)
def test_the_router_takes_what_the_config_file_takes(tmp_path: Path, name: str, text: str) -> None:
    assert from_router(name, text) == from_config(tmp_path, name, text)


def test_values_the_router_took_before_and_the_file_never_did() -> None:
    router = ZetaDynamicRouter(Settings())
    for value in (math.nan, math.inf, 1e9):
        with pytest.raises(ValueError, match="thresholds.ttft_s: expected"):
            router.controls.set_threshold("ttft_s", value)
    assert router.snapshot().thresholds.ttft_s == Settings().thresholds.ttft_s
    with pytest.raises(ValueError, match='unknown threshold "qeue"; did you mean "queue"'):
        router.controls.set_threshold("qeue", 3)
