"""Do two checkouts' policies decide alike? The same random fleet states through each, compared byte for byte.

    python bench/policy_equivalence.py --against CHECKOUT [--decisions 50000] [--seed 1] [--policies adaptive ...]

For a change meant to make deciding cheaper without changing a decision: each checkout's policies (run in a
subprocess from that checkout's own code) decide the same inputs, drawn from a seeded generator richer than
decision_cost.py's (sessions held, placed or moved, both rankings, failover exclusions, server-reported
counts, never-measured and cold endpoints, pins, learned output lengths), and every result's chosen
endpoint, wait flag, reason and candidates (`repr`, floats exactly) must be equal. Prints the first
difference, or how many decisions matched; exits 1 on a difference.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import subprocess
import sys
from pathlib import Path

from random_fleet import Spread, random_fleet  # bench/random_fleet.py, beside this script

from zeta_console.router.api import Classification, Ranking
from zeta_console.router.candidates import DecisionInput, SessionHint
from zeta_console.router.policies import make_policy
from zeta_console.settings import DEFAULT_ROUTES, Settings, Task

TASKS = (Task.SIMPLE, Task.CODE, Task.COMPLEX_REASONING, Task.EMBEDDING)
THIS_CHECKOUT = Path(__file__).resolve().parent.parent


def random_input(rng: random.Random) -> DecisionInput:
    replicas = rng.choice((1, 2, 3, 4, 6))
    endpoints = random_fleet(replicas, rng, Spread())
    task = rng.choice(TASKS)
    ids = [e.id for e in endpoints]
    session = None
    if task is not Task.EMBEDDING and rng.random() < 0.4:
        held = {endpoint_id: rng.uniform(0.0, 3.0) for endpoint_id in rng.sample(ids, rng.randint(0, len(ids)))}
        holder = rng.choice((None, rng.choice(ids), "gone@nowhere"))
        session = SessionHint("s", holder, rng.randint(0, 3000) if holder else 0, rng.choice((0.5, 0.2)), "new session", held)
    pin = rng.choice((None,) * 8 + ("coder", "reasoner"))
    return DecisionInput(
        request_id="equivalence",
        classification=Classification(task, 0.9, "bench", "rules"),
        route=(pin,) if pin else DEFAULT_ROUTES[task],
        pinned_tier=pin,
        endpoints=endpoints,
        prompt_tokens=rng.randint(1, 6000),
        needs=frozenset({"embedding"}) if task is Task.EMBEDDING else frozenset({"completion"}),
        feedback_weights={(task, "coder"): rng.uniform(0.5, 2.0), (task, "reasoner"): rng.uniform(0.5, 2.0)},
        excluded=frozenset(rng.sample(ids, rng.choice((0, 0, 0, 1, 2)))),
        rng=random.Random(rng.random()),
        ranking=rng.choice(tuple(Ranking)),
        expected_output_tokens={"coder": rng.uniform(10, 900)} if rng.random() < 0.5 else {},
        max_output_tokens=rng.choice((None, None, 8, 512)),
        session=session,
    )


def decisions(policy_name: str, count: int, seed: int) -> list[str]:
    """One line per decision: its chosen endpoint, wait flag, reason and candidates."""
    policy = make_policy(policy_name, Settings())
    rng = random.Random(seed)
    lines = []
    for _ in range(count):
        result = policy.decide(random_input(rng))
        lines.append(repr((result.chosen, result.wait, result.reason, result.candidates)))
    return lines


def run_side(checkout: Path, args: argparse.Namespace, policy: str) -> list[str]:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    # This file is not in the other checkout: it is run from here, on the other checkout's package.
    command = [sys.executable, __file__, "--role", policy, "--decisions", str(args.decisions), "--seed", str(args.seed)]
    return subprocess.run(command, env=env, cwd=checkout, check=True, capture_output=True, text=True).stdout.splitlines()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", type=Path, help="the other checkout (e.g. `git archive main` extracted)")
    parser.add_argument("--decisions", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--policies", nargs="*", default=["static", "threshold", "least_load", "adaptive"])
    parser.add_argument("--role", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        for line in decisions(args.role, args.decisions, args.seed):
            print(line)
        return 0
    if args.against is None:
        parser.error("--against CHECKOUT is required")
    for policy in args.policies:
        mine, theirs = run_side(THIS_CHECKOUT, args, policy), run_side(args.against.resolve(), args, policy)
        for index, (a, b) in enumerate(zip(mine, theirs, strict=True)):
            if a != b:
                print(f"{policy}: decision {index} differs\n  here:    {a[:2000]}\n  against: {b[:2000]}")
                return 1
        digest = hashlib.blake2b("\n".join(mine).encode(), digest_size=8).hexdigest()
        print(f"{policy}: {len(mine)} decisions identical (chosen, wait, reason, candidates; digest {digest})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
