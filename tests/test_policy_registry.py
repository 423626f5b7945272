"""The policy registry is the one list of policy names: a policy registered there is accepted
by the configuration and the router's set_policy, listed in the router's snapshot (which the
console's Controls and palette offer: tests/ui/test_live.py) and run by the benchmark."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.policy_fixtures import registered_policy
from zeta_console.benchmark.contenders import known_contenders
from zeta_console.config import ConfigError, load_settings
from zeta_console.router.policies import POLICIES
from zeta_console.router.router import ZetaDynamicRouter
from zeta_console.settings import Settings


def test_the_default_policy_is_a_registered_one() -> None:
    assert Settings().policy in POLICIES


def test_a_registered_policy_is_accepted_by_the_configuration(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("policy: nearest\n")
    with pytest.raises(ConfigError, match='policy: unknown policy "nearest"'):
        load_settings(path, overrides=False)
    with registered_policy("nearest"):
        assert load_settings(path, overrides=False).policy == "nearest"


def test_a_registered_policy_is_listed_and_accepted_by_the_router() -> None:
    with registered_policy("nearest"):
        router = ZetaDynamicRouter(Settings())
        assert router.snapshot().policies == ("static", "threshold", "least_load", "adaptive", "nearest")
        action = router.controls.set_policy("nearest")
        assert (action.old, action.new) == ("adaptive", "nearest") and router.snapshot().policy == "nearest"
    with pytest.raises(ValueError, match='unknown policy "nearest"'):
        ZetaDynamicRouter(Settings()).controls.set_policy("nearest")


def test_a_registered_policy_is_a_bench_contender() -> None:
    assert "nearest" not in known_contenders()
    with registered_policy("nearest"):
        assert "nearest" in known_contenders()
