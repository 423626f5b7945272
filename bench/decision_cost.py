"""Decision cost per routing policy: 3 tiers x 4 replicas (12 endpoints).

    python bench/decision_cost.py [--decisions 100000] [--json] [--minima] [--clock wall|cpu]

Times `policy.decide()` alone (the router builds the DecisionInput once per request anyway)
with time.perf_counter_ns around each call, after a warm-up. Inputs rotate over a mix of tasks,
prompt sizes and load states so that no single branch is measured. Goal: p99 <= 20 us.
Policies may build the per-candidate breakdown and the reason on first read of `candidates` / `reason`; the
router reads both once per dispatched attempt (for the Decision), not when a queued request decides again or a
hedge looks for a target; "+ reason, candidates", a second pass, times decide() plus those reads.
`--minima` reports, instead of every timed decision, each input's fastest over the rounds (decisions / 256): what a
decision itself costs, without what a busy machine adds; for comparing two builds on a shared machine, not the goal.
`--clock cpu` times each call by the thread's own CPU time (`time.thread_time_ns`, less that clock's own cost, the median
of back-to-back reads) instead of `perf_counter_ns`: a decision the scheduler preempts (a few ms on a loaded machine,
which decides the wall p99 there) counts only its own work; what other processes leave in the caches still counts.
Garbage collection is left on either way; it runs about once per 20,000 adaptive decisions here (their garbage is freed
by reference counting), so it does not decide a percentile.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable

from random_fleet import Spread, random_fleet  # bench/random_fleet.py, beside this script

from zeta_console.router.api import Classification
from zeta_console.router.candidates import DecisionInput
from zeta_console.router.policies import POLICIES, make_policy
from zeta_console.settings import DEFAULT_MODELS, DEFAULT_ROUTES, Settings, Task

REPLICAS = 4
VARIANTS = 256  # distinct inputs cycled through during the run
GOAL_P99_US = 20.0
TASKS = (Task.SIMPLE, Task.CODE, Task.COMPLEX_REASONING, Task.EMBEDDING)


# Fully measured endpoints with none of the server-reported counts, a queue only at a full endpoint.
SPREAD = Spread(
    slots=(1, 2, 4),
    over_slots=0,
    queued=(0, 1, 2, 3, 4, 5, 6),
    queued_only_when_full=True,
    status_weights=(0.85, 0.1, 0.0, 0.0, 0.05, 0.0),
    drained=0.05,
    ttft_thresholds_s=(2.0,),
    measured=1.0,
    ttft_p95=1.0,
    latency_p95=1.0,
    latency_ewma=1.0,
    prefill=0.8,
    decode=0.0,
    load=1.0,
    residency=(True, True, True, True, False),
    error_rates=(0.0, 0.0, 0.0, 0.05, 0.3),
    sample_age=1.0,
    status_reasons=("",),
    ttft_overhead=0.0,
    server_reports=0.0,
)


def random_input(rng: random.Random) -> DecisionInput:
    endpoints = random_fleet(REPLICAS, rng, SPREAD)
    task = rng.choice(TASKS)
    return DecisionInput(
        request_id="bench",
        classification=Classification(task, 0.9, "bench", "rules"),
        route=DEFAULT_ROUTES[task],
        pinned_tier=rng.choice((None,) * 9 + ("coder",)),
        endpoints=endpoints,
        prompt_tokens=rng.randint(10, 4000),
        needs=frozenset({"embedding"}) if task is Task.EMBEDDING else frozenset({"completion"}),
        feedback_weights={(task, "coder"): rng.uniform(0.5, 2.0), (task, "reasoner"): rng.uniform(0.5, 2.0)},
        rng=random.Random(rng.random()),
    )


CLOCKS = {"wall": time.perf_counter_ns, "cpu": time.thread_time_ns}


def clock_cost_ns(clock: Callable[[], int]) -> int:
    """The median of back-to-back reads of `clock`: what each timed call's figure includes of the clock itself."""
    gaps = sorted(-clock() + clock() for _ in range(2001))
    return gaps[len(gaps) // 2]


def measure(policy_name: str, inputs: list[DecisionInput], decisions: int, warmup: int, per_input: bool, clock: str) -> dict[str, float]:
    decide = make_policy(policy_name, Settings()).decide
    timer = CLOCKS[clock]
    offset = clock_cost_ns(timer) if clock == "cpu" else 0

    def timings(call: Callable[[DecisionInput], object]) -> list[int]:
        samples = (minima if per_input else every_timing)(call, inputs, decisions, warmup, timer)
        return [sample - offset for sample in samples] if offset else samples

    def decide_and_build(inp: DecisionInput) -> None:
        result = decide(inp)
        result.reason  # noqa: B018 - reading them builds them
        result.candidates  # noqa: B018

    alone = timings(decide)
    with_candidates = timings(decide_and_build)
    return {
        "p50_us": percentile(alone, 50),
        "p99_us": percentile(alone, 99),
        "mean_us": statistics.fmean(alone) / 1000,
        "max_us": alone[-1] / 1000,
        "with_candidates_p50_us": percentile(with_candidates, 50),
        "with_candidates_p99_us": percentile(with_candidates, 99),
    }


def every_timing(
    call: Callable[[DecisionInput], object], inputs: list[DecisionInput], decisions: int, warmup: int, clock: Callable[[], int]
) -> list[int]:
    """Nanoseconds per call, sorted, over `decisions` calls after `warmup` untimed ones."""
    count = len(inputs)
    for i in range(warmup):
        call(inputs[i % count])
    samples = [0] * decisions
    for i in range(decisions):
        inp = inputs[i % count]
        start = clock()
        call(inp)
        samples[i] = clock() - start
    samples.sort()
    return samples


def minima(
    call: Callable[[DecisionInput], object], inputs: list[DecisionInput], decisions: int, warmup: int, clock: Callable[[], int]
) -> list[int]:
    """Each input's fastest call, in nanoseconds, sorted, over `decisions / len(inputs)` rounds after the warm-up."""
    for i in range(warmup):
        call(inputs[i % len(inputs)])
    fastest = [sys.maxsize] * len(inputs)
    for _ in range(max(1, decisions // len(inputs))):
        for k, inp in enumerate(inputs):
            start = clock()
            call(inp)
            spent = clock() - start
            if spent < fastest[k]:
                fastest[k] = spent
    fastest.sort()
    return fastest


def percentile(ordered_ns: list[int], p: int) -> float:
    return ordered_ns[min(len(ordered_ns) - 1, len(ordered_ns) * p // 100)] / 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=100_000, help="timed decisions per policy")
    parser.add_argument("--warmup", type=int, default=10_000)
    parser.add_argument("--policies", nargs="*", default=list(POLICIES), choices=sorted(POLICIES))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout instead of the table")
    parser.add_argument("--minima", action="store_true", help="each input's fastest decision, not every decision")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall", help="wall time (default) or the thread's own CPU time")
    args = parser.parse_args(argv)

    rng = random.Random(args.seed)
    inputs = [random_input(rng) for _ in range(VARIANTS)]
    results = {name: measure(name, inputs, args.decisions, args.warmup, args.minima, args.clock) for name in args.policies}
    environment = {"python": platform.python_version(), "machine": platform.machine(), "endpoints": REPLICAS * len(DEFAULT_MODELS)}
    if args.json:
        json.dump(
            {
                "environment": environment,
                "decisions": args.decisions,
                "minima": args.minima,
                "clock": args.clock,
                "goal_p99_us": GOAL_P99_US,
                "policies": results,
            },
            sys.stdout,
            indent=2,
        )
        print()
        return 0
    rounds = args.decisions // VARIANTS
    timed = f"each of {VARIANTS} inputs' fastest of {rounds}" if args.minima else f"{args.decisions} decisions per policy"
    clock = "wall time" if args.clock == "wall" else "the thread's CPU time"
    print(f"decision cost, {environment['endpoints']} endpoints, {timed}, {clock}, Python {environment['python']}")
    header = f"{'policy':<12}{'p50 us':>9}{'p99 us':>9}{'mean us':>9}{'max us':>9}  goal p99 <= {GOAL_P99_US:g} us"
    print(f"{header}   + reason, candidates p50 / p99 us")
    for name, r in results.items():
        verdict = "(not the goal's)" if args.minima else "ok" if r["p99_us"] <= GOAL_P99_US else "behind"
        full = f"{r['with_candidates_p50_us']:.1f} / {r['with_candidates_p99_us']:.1f}"
        print(f"{name:<12}{r['p50_us']:>9.1f}{r['p99_us']:>9.1f}{r['mean_us']:>9.1f}{r['max_us']:>9.0f}  {verdict:<22}{full:>14}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
