"""Scenario files: the shipped ones load; mistakes are named by file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from zeta_console.benchmark.scenarios import available_scenarios, load_scenario
from zeta_console.config import ConfigError
from zeta_console.errors import UserError
from zeta_console.sim.faults import Fault

VALID = """\
description: two tiers, one phase
duration_s: 60
fleet:
  hosts:
    - name: local
      tiers: [coder, reasoner]
traffic:
  - rates_per_s: {simple: 1.0}
events:
  - {at_s: 10, action: fault, tier: reasoner, slow_factor: 5}
  - {at_s: 20, action: clear_faults}
"""


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "case.yaml"
    path.write_text(text)
    return str(path)


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_scenario(write(tmp_path, text))
    assert caught.value.exit_code == 2
    return str(caught.value)


def test_every_shipped_scenario_loads() -> None:
    names = available_scenarios()
    assert {"steady", "overload", "slowdown", "failure", "replicas", "coldstart"} <= set(names)
    for name in names:
        assert load_scenario(name).description


def test_a_valid_file_loads(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, VALID))
    assert scenario.duration_s == 60
    assert scenario.traffic[0].end_s == 60
    assert [event.action for event in scenario.events] == ["fault", "clear_faults"]
    assert scenario.events[0].fault == Fault(slow_factor=5)


def test_unknown_task_names_line_and_key(tmp_path: Path) -> None:
    message = error_of(tmp_path, VALID.replace("{simple: 1.0}", "{simpel: 1.0}"))
    assert message.startswith(f"{tmp_path / 'case.yaml'}:8: traffic[0].rates_per_s.simpel: unknown key")


def test_event_tier_must_exist(tmp_path: Path) -> None:
    message = error_of(tmp_path, VALID.replace("tier: reasoner", "tier: embedder"))
    assert ":10: events[0].tier: 'embedder' is not one of: coder, reasoner" in message


def test_negative_rate_is_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, VALID.replace("simple: 1.0", "simple: -1"))
    assert ":8: traffic[0].rates_per_s.simple: must be >= 0" in message


def test_fault_without_arguments_is_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, VALID.replace(", slow_factor: 5", ""))
    assert ":10: events[0].action: a fault needs at least one of" in message


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    message = error_of(tmp_path, VALID.replace("duration_s: 60", "duration_s: [60"))
    assert "case.yaml:" in message and "not valid YAML" in message


def test_missing_scenario_lists_the_known_ones() -> None:
    with pytest.raises(UserError, match="^no such scenario 'no-such-scenario' \\(known: .*overload") as raised:
        load_scenario("no-such-scenario")
    assert raised.value.exit_code == 2


def test_fault_arguments_are_checked_by_the_emulator(tmp_path: Path) -> None:
    message = error_of(tmp_path, VALID.replace("slow_factor: 5", "slow_factor: 0"))
    assert ":10: events[0].slow_factor: slow_factor must be > 0" in message
