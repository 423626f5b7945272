"""`zeta-console bench SCENARIO [--policies ...] [--quick] [--json OUT]` and `zeta-console bench --list`."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import platform
import sys
from collections.abc import Sequence
from pathlib import Path

from zeta_console.benchmark.goals import render_verdicts, verdicts_for
from zeta_console.benchmark.report import conversation_table, render_text, run_to_json
from zeta_console.benchmark.results import ContenderRun
from zeta_console.benchmark.scenarios import Scenario, available_scenarios, load_scenario
from zeta_console.benchmark.summary import conversation_summary
from zeta_console.benchmark.trace import generate_trace
from zeta_console.errors import UserError
from zeta_console.wording import counted

LITELLM_ALIASES = {"litellm": ("litellm:latency", "litellm:least_busy")}


def parse_contenders(text: str, known: Sequence[str]) -> tuple[str, ...]:
    names: list[str] = []
    for raw in text.split(","):
        name = raw.strip()
        if not name:
            continue
        for expanded in LITELLM_ALIASES.get(name, (name,)):
            if expanded not in known:
                raise UserError(f"--policies: unknown contender {expanded!r}; choose from: {', '.join(known)}, litellm", exit_code=2)
            if expanded not in names:
                names.append(expanded)
    if not names:
        raise UserError("--policies: name at least one contender", exit_code=2)
    return tuple(names)


def machine_line() -> str:
    import os

    system = f"{platform.system()} {platform.release()}"
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, {system}"


def run_bench_command(args: argparse.Namespace) -> int:
    from zeta_console.benchmark.contenders import known_contenders, run_contender

    if args.list:
        print(scenario_list())
        return 0
    scenario = load_scenario(args.scenario)
    contenders = parse_contenders(args.policies, known_contenders())
    time_scale = scenario.quick_time_scale if args.quick else scenario.time_scale
    trace = generate_trace(scenario.traffic, scenario.seed, scenario.sizes, scenario.conversations)
    print(
        f"bench {scenario.name}: {counted(len(trace), 'request')} over {scenario.duration_s:g} s at {time_scale:g}x "
        f"(seed {scenario.seed}), contenders: {', '.join(contenders)}",
        file=sys.stderr,
    )
    runs: list[ContenderRun] = []
    for name in contenders:
        run = asyncio.run(run_contender(name, scenario, trace, time_scale))
        print(f"  {name}: {run.wall_s:.1f} s wall, event-loop lag p99 {run.loop_lag_p99_ms or 0:.1f} ms", file=sys.stderr)
        runs.append(run)
    print(render_report(scenario, runs, time_scale))
    if args.json:
        write_json(Path(args.json), scenario, runs, time_scale)
    return 0


def scenario_list() -> str:
    scenarios = [load_scenario(name) for name in available_scenarios()]
    width = max((len(scenario.name) for scenario in scenarios), default=0)
    return "\n".join(f"{scenario.name:<{width}}  {scenario.description}" for scenario in scenarios)


def render_report(scenario: Scenario, runs: Sequence[ContenderRun], time_scale: float) -> str:
    verdicts = verdicts_for(scenario, runs)
    goals = [f"### Goals\n{render_verdicts(verdicts)}"] if verdicts else []
    if scenario.conversations is not None:
        chats = "### Conversations (on cache host: later turns served by the host that served the chat's previous turn)"
        goals.insert(0, f"{chats}\n{conversation_table(runs, [host.name for host in scenario.hosts])}")
    header = f"# {scenario.name}: {scenario.description}\nmachine: {machine_line()}; time scale {time_scale:g}x; seed {scenario.seed}\n"
    return header + "\n" + render_text(runs, goals)


def write_json(path: Path, scenario: Scenario, runs: Sequence[ContenderRun], time_scale: float) -> None:
    document = {
        "scenario": scenario.name,
        "source": scenario.source,
        "seed": scenario.seed,
        "time_scale": time_scale,
        "machine": machine_line(),
        "goals": [verdict.__dict__ for verdict in verdicts_for(scenario, runs)],
        "runs": [run_to_json(run) for run in runs],
    }
    if scenario.conversations is not None:
        hosts = [host.name for host in scenario.hosts]
        summaries = {run.contender: conversation_summary(run, hosts) for run in runs}
        document["conversations"] = {name: dataclasses.asdict(summary) for name, summary in summaries.items() if summary is not None}
    try:
        path.write_text(json.dumps(document, indent=1, default=str) + "\n")
    except OSError as error:
        raise UserError(f"--json {path}: cannot write: {error.strerror}") from error
