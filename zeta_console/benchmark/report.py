"""Text tables, a plotext chart of p95 TTFT over time, and the JSON form of a benchmark."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import plotext

from zeta_console.benchmark.results import ContenderRun
from zeta_console.benchmark.summary import ALL_TASKS, Summary, calibration, conversation_summary, summaries_by_task, ttft_p95_over_time

CHART_MARKERS = ("x", "o", "+", "*", "#", "@", "%", "&", "=")
_COLUMNS = (
    ("task", "task"),
    ("n", "requests"),
    ("ok", "ok"),
    ("fail", "failed"),
    ("lost", "lost"),
    ("ttft p50", "ttft_p50_s"),
    ("p95", "ttft_p95_s"),
    ("p99", "ttft_p99_s"),
    ("total p50", "total_p50_s"),
    ("p95", "total_p95_s"),
    ("p99", "total_p99_s"),
    ("req/min", "throughput_per_min"),
    ("preferred", "preferred_share"),
    ("fallbacks", "fallbacks"),
)


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table with aligned columns (readable both raw and rendered)."""
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cell.rjust(width) for cell, width in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (width + 1) + ":" for width in widths) + "|"
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


def _cell(value: Any, key: str) -> str:
    if value is None:
        return "-"
    if key == "preferred_share":
        return f"{value:.0%}"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _summary_row(label: str, summary: Summary) -> list[str]:
    values = dataclasses.asdict(summary)
    return [label, *(_cell(values[key], key) for _, key in _COLUMNS[1:])]


def contender_table(run: ContenderRun) -> str:
    rows = [_summary_row(task, summary) for task, summary in summaries_by_task(run).items()]
    return format_table([title for title, _ in _COLUMNS], rows)


def comparison_table(runs: Sequence[ContenderRun]) -> str:
    """One row per contender over all tasks: the headline comparison."""
    rows = [_summary_row(run.contender, summaries_by_task(run)[ALL_TASKS]) for run in runs]
    header = ["contender", *(title for title, _ in _COLUMNS[1:]), "loop lag p99 ms"]
    for row, run in zip(rows, runs, strict=True):
        row.append(_cell(run.loop_lag_p99_ms, "lag"))
    return format_table(header, rows)


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def calibration_table(runs: Sequence[ContenderRun]) -> str | None:
    """Per contender that predicts (Zeta's): median and p90 of |predicted - actual| / actual, TTFT and completion."""
    rows = []
    for run in runs:
        c = calibration(run.results)
        if c.requests:
            errors = (c.ttft_median, c.ttft_p90, c.completion_median, c.completion_p90)
            rows.append([run.contender, str(c.requests), *(_share(error) for error in errors)])
    if not rows:
        return None
    header = ["contender", "predicted", "TTFT error p50", "p90", "completion error p50", "p90"]
    return "Calibration (|predicted - actual| / actual, both from the decision):\n\n" + format_table(header, rows)


def conversation_table(runs: Sequence[ContenderRun], hosts: Sequence[str]) -> str:
    """Per contender: how often a chat's next turn went back to the host caching it, TTFT, load per host, and
    (where the servers count them: llama.cpp) the prompt tokens they reused from their caches."""
    summaries = [(run, summary) for run in runs if (summary := conversation_summary(run, hosts)) is not None]
    cached = any(summary.cached_prompt_tokens is not None for _, summary in summaries)
    header = ["contender", "turns", "on cache host", "ttft p50", "p90", *(f"turns on {host}" for host in hosts), "busiest / mean"]
    header += ["prompt tokens cached"] if cached else []
    rows = []
    for run, summary in summaries:
        hit = f"{summary.on_cache_host:.1%} of {summary.later_turns}" if summary.on_cache_host is not None else "-"
        rows.append(
            [
                run.contender,
                str(summary.turns),
                hit,
                _cell(summary.ttft_p50_s, "ttft"),
                _cell(summary.ttft_p90_s, "ttft"),
                *(str(summary.host_turns[host]) for host in hosts),
                _cell(summary.busiest_over_mean, "ratio"),
                *([_cached_cell(summary.cached_prompt_tokens, summary.prompt_tokens)] if cached else []),
            ]
        )
    return format_table(header, rows)


def _cached_cell(cached: int | None, prompt: int | None) -> str:
    """Prompt tokens the servers reused from their caches, of all they were sent: `41.2k of 52.0k (79%)`."""
    if cached is None or not prompt:
        return "-"
    return f"{cached / 1000:.1f}k of {prompt / 1000:.1f}k ({cached / prompt:.0%})"


def hedging_table(runs: Sequence[ContenderRun]) -> str:
    """Per contender: hedges sent and won, the extra requests they made (share of the trace), and the
    answers checked byte for byte against one host's whole answer, with how many were duplicated or spliced."""
    header = ["contender", "hedges sent", "won", "extra requests", "answers checked", "duplicated or spliced"]
    rows = []
    for run in runs:
        checked = [result for result in run.results if result.answer_intact is not None]
        extra = run.hedges_sent / len(run.results) if run.hedges_sent is not None and run.results else None
        rows.append([
            run.contender,
            _cell(run.hedges_sent, "hedges"),
            _cell(run.hedges_won, "hedges"),
            "-" if extra is None else f"{extra:.1%}",
            str(len(checked)) if checked else "-",
            str(sum(result.answer_intact is False for result in checked)) if checked else "-",
        ])
    return format_table(header, rows)


def p95_chart(runs: Sequence[ContenderRun], width: int = 90, height: int = 22) -> str:
    """p95 TTFT per arrival window, one ASCII marker per contender (readable without colour), log y."""
    plotext.clear_figure()
    plotext.plotsize(width, height)
    plotext.theme("clear")
    for marker, run in zip(CHART_MARKERS * 2, runs, strict=False):
        points = [(at, p95) for at, p95 in ttft_p95_over_time(run) if p95 is not None]
        if points:
            plotext.plot([at for at, _ in points], [p95 for _, p95 in points], label=run.contender, marker=marker)
    plotext.yscale("log")  # a queue growing to minutes would otherwise flatten every other line
    plotext.title("p95 TTFT (s, log scale) by arrival time (s)")
    chart: str = plotext.uncolorize(plotext.build())
    plotext.clear_figure()
    return "\n".join(line.rstrip() for line in chart.splitlines())


def render_text(runs: Sequence[ContenderRun], extra_sections: Sequence[str] = ()) -> str:
    scenario = runs[0].scenario if runs else "?"
    chart = f"```text\n{p95_chart(runs)}\n```"  # fenced: the output pastes into Markdown as it is
    parts = [f"## {scenario}: all contenders (latencies in scenario seconds)", comparison_table(runs), hedging_table(runs), chart]
    calibrated = calibration_table(runs)
    if calibrated:
        parts.insert(2, calibrated)
    for run in runs:
        parts.append(f"### {run.contender} (time scale {run.time_scale:g}x, {run.wall_s:.1f} s wall)")
        parts.append(contender_table(run))
    parts.extend(extra_sections)
    return "\n\n".join(parts) + "\n"


def run_to_json(run: ContenderRun) -> dict[str, Any]:
    return {
        "contender": run.contender,
        "scenario": run.scenario,
        "time_scale": run.time_scale,
        "duration_s": run.duration_s,
        "wall_s": run.wall_s,
        "loop_lag_p99_ms": run.loop_lag_p99_ms,
        "hedges_sent": run.hedges_sent,
        "hedges_won": run.hedges_won,
        "summary": {task: dataclasses.asdict(summary) for task, summary in summaries_by_task(run).items()},
        "calibration": dataclasses.asdict(calibration(run.results)),
        "p95_ttft_over_time": [{"at_s": at, "p95_s": p95} for at, p95 in ttft_p95_over_time(run)],
        "requests": [dataclasses.asdict(result) for result in run.results],
    }
