"""Task classification accuracy on labelled prompts, and the rules' cost per prompt.

    python bench/classify_eval.py [--data bench/classify_prompts.yaml] [--split all|tune|heldout] [--misses] [--json OUT]

Runs the default configuration's classifier (`Classifier(Settings())`: rules only, the semantic
fallback is off by default) on every prompt of the data file and reports accuracy and the
confusion matrix per split (held-out, tune, all): overall, per class and per language.
`--misses` lists the prompts classified wrongly in the reported splits (tune with `--split tune`:
the held-out prompts are not looked at while the rules are tuned). The timing loop runs
`classify_rules` on a two-sentence prompt and over the whole data set (best of five rounds).
Goal: held-out accuracy >= 90 % overall and >= 85 % per class.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zeta_console.errors import UserError
from zeta_console.router.classify import Classifier, classify_rules
from zeta_console.settings import Settings, Task
from zeta_console.yaml_source import read_yaml

DATA = Path(__file__).resolve().parent / "classify_prompts.yaml"
CLASSES = (Task.SIMPLE, Task.CODE, Task.COMPLEX_REASONING)
SPLITS = ("heldout", "tune")
TWO_SENTENCES = "I have a list of numbers in a spreadsheet. What is the quickest way to find the ones that appear twice?"
GOAL_OVERALL = 0.90
GOAL_PER_CLASS = 0.85


@dataclass(frozen=True)
class Prompt:
    text: str
    language: str
    label: Task
    split: str


@dataclass(frozen=True)
class Outcome:
    prompt: Prompt
    predicted: Task
    reason: str


def load_prompts(path: Path) -> list[Prompt]:
    source = read_yaml(path)
    root = source.mapping(source.root, ())
    source.check_keys(root, (), ("prompts",))
    entries = source.sequence(root.get("prompts"), ("prompts",))
    prompts: list[Prompt] = []
    for index, raw in enumerate(entries):
        keys = ("prompts", index)
        entry = source.mapping(raw, keys)
        source.check_keys(entry, keys, ("text", "language", "label", "split"))
        for name in ("text", "language", "label", "split"):
            if not isinstance(entry.get(name), str) or not entry[name]:
                raise source.error((*keys, name), "expected a non-empty string")
        if entry["label"] not in CLASSES:
            raise source.error((*keys, "label"), f"expected one of: {', '.join(CLASSES)}")
        if entry["split"] not in SPLITS:
            raise source.error((*keys, "split"), f"expected one of: {', '.join(SPLITS)}")
        prompts.append(Prompt(entry["text"], entry["language"], Task(entry["label"]), entry["split"]))
    return prompts


async def classify_all(prompts: Sequence[Prompt]) -> list[Outcome]:
    classifier = Classifier(Settings())
    outcomes = []
    for prompt in prompts:
        result = await classifier.classify(prompt.text)
        outcomes.append(Outcome(prompt, result.task, result.reason))
    return outcomes


def summary(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """Accuracy overall, per class and per language, and the confusion matrix (label -> predicted -> count)."""

    def accuracy(group: Sequence[Outcome]) -> dict[str, Any]:
        correct = sum(outcome.predicted == outcome.prompt.label for outcome in group)
        return {"correct": correct, "total": len(group), "accuracy": correct / len(group) if group else None}

    languages = sorted({outcome.prompt.language for outcome in outcomes})
    confusion = Counter((outcome.prompt.label, outcome.predicted) for outcome in outcomes)
    return {
        "overall": accuracy(outcomes),
        "per_class": {task.value: accuracy([o for o in outcomes if o.prompt.label == task]) for task in CLASSES},
        "per_language": {language: accuracy([o for o in outcomes if o.prompt.language == language]) for language in languages},
        "confusion": {label.value: {predicted.value: confusion[label, predicted] for predicted in CLASSES} for label in CLASSES},
    }


def meets_goal(heldout: dict[str, Any]) -> bool:
    per_class = [group["accuracy"] for group in heldout["per_class"].values()]
    return heldout["overall"]["accuracy"] >= GOAL_OVERALL and all(value >= GOAL_PER_CLASS for value in per_class)


def render(name: str, figures: dict[str, Any]) -> str:
    def share(group: dict[str, Any]) -> str:
        return f"{100 * group['accuracy']:.1f} % ({group['correct']}/{group['total']})"

    width = max(len(task) for task in CLASSES)
    lines = [
        f"## {name}: {share(figures['overall'])}",
        "per class:    " + "   ".join(f"{task} {share(group)}" for task, group in figures["per_class"].items()),
        "per language: " + "   ".join(f"{language} {share(group)}" for language, group in figures["per_language"].items()),
        f"confusion (rows: label, columns: predicted)\n  {'':{width}}  " + "".join(f"{task:>{width + 2}}" for task in CLASSES),
    ]
    for label, row in figures["confusion"].items():
        lines.append(f"  {label:{width}}  " + "".join(f"{row[task]:>{width + 2}}" for task in CLASSES))
    return "\n".join(lines)


def best_mean_us(texts: Sequence[str], rounds: int = 5, minimum_calls: int = 20_000) -> float:
    repeat = max(1, minimum_calls // len(texts))
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter_ns()
        for _ in range(repeat):
            for text in texts:
                classify_rules(text)
        best = min(best, (time.perf_counter_ns() - start) / (repeat * len(texts)) / 1000)
    return best


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="labelled prompts (YAML)")
    parser.add_argument("--split", choices=("all", *SPLITS), default="all", help="which split to report")
    parser.add_argument("--misses", action="store_true", help="list the prompts classified wrongly in the reported split")
    parser.add_argument("--no-timing", action="store_true", help="skip the timing loop")
    parser.add_argument("--json", metavar="OUT", help="write the figures as JSON to OUT ('-' for stdout, instead of the text report)")
    args = parser.parse_args(argv)
    try:
        prompts = load_prompts(args.data)
    except UserError as error:
        print(f"classify_eval: {error}", file=sys.stderr)
        return error.exit_code
    outcomes = asyncio.run(classify_all(prompts))
    splits = SPLITS if args.split == "all" else (args.split,)
    report: dict[str, Any] = {name: summary([o for o in outcomes if o.prompt.split == name]) for name in splits}
    if args.split == "all":
        report["all"] = summary(outcomes)
    if "heldout" in report:
        report["heldout_meets_goal"] = meets_goal(report["heldout"])
    if not args.no_timing:
        report["timing_us"] = {"two_sentences": best_mean_us([TWO_SENTENCES]), "data_set_mean": best_mean_us([p.text for p in prompts])}
    if args.json:
        text = json.dumps(report, indent=1, ensure_ascii=False) + "\n"
        sys.stdout.write(text) if args.json == "-" else Path(args.json).write_text(text)
        return 0
    languages = sorted({prompt.language for prompt in prompts})
    print(f"classifier: default configuration (rules; semantic off); {len(prompts)} prompts from {args.data.name}", end="")
    print(f"; languages {', '.join(languages)}")
    for name in (*splits, "all") if args.split == "all" else splits:
        print("\n" + render(name, report[name]))
    if "heldout_meets_goal" in report:
        verdict = "met" if report["heldout_meets_goal"] else "NOT met"
        print(f"\nheld-out goal (>= {GOAL_OVERALL:.0%} overall, >= {GOAL_PER_CLASS:.0%} per class): {verdict}")
    if "timing_us" in report:
        timing = report["timing_us"]
        print(f"timing (classify_rules, best of 5): two-sentence prompt {timing['two_sentences']:.1f} µs;", end="")
        print(f" data-set mean {timing['data_set_mean']:.1f} µs")
    if args.misses:
        print("\nmisses:")
        for outcome in outcomes:
            if outcome.prompt.split in splits and outcome.predicted != outcome.prompt.label:
                shown = outcome.prompt.text.replace("\n", "⏎")[:110]
                print(f"  [{outcome.prompt.language}] {outcome.prompt.label} -> {outcome.predicted}: {shown}  ({outcome.reason})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
