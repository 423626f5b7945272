"""bench/classify_eval.py: the labelled prompts are balanced, and the default classifier meets
the held-out goal (>= 90 % overall, >= 85 % per class) — a property of the data and the rules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "bench" / "classify_eval.py"
LANGUAGES = {"en", "es", "fr", "de", "zh", "ja"}
CLASSES = {"simple", "code", "complex_reasoning"}


def run_eval(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)


def test_the_held_out_split_is_a_balanced_third() -> None:
    prompts = yaml.safe_load((ROOT / "bench" / "classify_prompts.yaml").read_text())["prompts"]
    assert len(prompts) >= 300
    heldout = Counter((p["language"], p["label"]) for p in prompts if p["split"] == "heldout")
    assert set(heldout) == {(language, label) for language in LANGUAGES for label in CLASSES}
    assert len(set(heldout.values())) == 1  # as many per language and class
    assert 0.3 <= sum(heldout.values()) / len(prompts) <= 0.36


def test_the_default_classifier_meets_the_held_out_goal() -> None:
    done = run_eval("--no-timing", "--json", "-")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    heldout = report["heldout"]
    assert heldout["overall"]["total"] == 108
    assert heldout["overall"]["accuracy"] >= 0.90
    assert all(group["accuracy"] >= 0.85 for group in heldout["per_class"].values()), heldout["per_class"]
    assert set(heldout["per_language"]) == LANGUAGES
    assert report["heldout_meets_goal"] is True
    assert sum(sum(row.values()) for row in report["all"]["confusion"].values()) == report["all"]["overall"]["total"]


def test_a_bad_data_file_is_one_line_naming_file_line_and_key(tmp_path: Path) -> None:
    data = tmp_path / "prompts.yaml"
    entries = ("  - {split: tune, language: en, label: simple, text: hi}", "  - {split: tune, language: en, label: chat, text: hey}")
    data.write_text("\n".join(("prompts:", *entries)) + "\n")
    done = run_eval("--no-timing", "--data", str(data))
    assert done.returncode == 2
    assert done.stderr == f"classify_eval: {data}:3: prompts[1].label: expected one of: simple, code, complex_reasoning\n"
