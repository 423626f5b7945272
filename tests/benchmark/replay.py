"""A tiny scenario, written out and replayed against a fresh emulated fleet per contender."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from zeta_console.benchmark.contenders import run_contender
from zeta_console.benchmark.results import ContenderRun
from zeta_console.benchmark.scenarios import load_scenario
from zeta_console.benchmark.trace import generate_trace


def replay(tmp_path: Path, scenario_yaml: str, contenders: Sequence[str], min_requests: int) -> dict[str, ContenderRun]:
    """Each contender's run of the scenario's one trace, which holds at least `min_requests`."""
    path = tmp_path / "scenario.yaml"
    path.write_text(scenario_yaml)
    scenario = load_scenario(str(path))
    trace = generate_trace(scenario.traffic, scenario.seed, scenario.sizes)
    assert len(trace) >= min_requests

    async def run_all() -> dict[str, ContenderRun]:
        return {name: await run_contender(name, scenario, trace, scenario.time_scale) for name in contenders}

    return asyncio.run(run_all())
