"""Cost of the bounded YAML reader (yaml_source.parse_yaml) against PyYAML's plain SafeLoader.

    python bench/yaml_load.py [--repeat 200]

For the shipped config.yaml and the largest benchmark scenario: median time of
`yaml.compose` with SafeLoader (no bounds) and of `parse_yaml` (bounded composer + the plain
values with their lines), and the full `load_settings` of config.yaml. Then how long the
alias bomb and the deep nesting of tests/configs/bad/ take to be refused, and the peak RSS.
Goal: the bounds add < 10 % to parsing a normal file; a refused file costs milliseconds.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from zeta_console.config import load_settings
from zeta_console.yaml_source import ConfigError, parse_yaml

ROOT = Path(__file__).resolve().parent.parent
NORMAL = [ROOT / "config.yaml", max((ROOT / "bench" / "scenarios").glob("*.yaml"), key=lambda path: path.stat().st_size)]
REFUSED = [ROOT / "tests" / "configs" / "bad" / name for name in ("alias_bomb.yaml", "deep_flow_nesting.yaml", "deep_block_nesting.yaml")]


def median_ms(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def refuse(path: Path, text: str) -> None:
    try:
        parse_yaml(str(path), text)
    except ConfigError:
        return
    raise AssertionError(f"{path.name} was not refused")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200)
    repeat = parser.parse_args().repeat
    for path in NORMAL:
        text = path.read_text()
        plain = median_ms(lambda text=text: yaml.compose(text, Loader=yaml.SafeLoader), repeat)
        bounded = median_ms(lambda path=path, text=text: parse_yaml(str(path), text), repeat)
        print(f"{path.name:<22} {len(text):>6} B  SafeLoader compose {plain:6.2f} ms  parse_yaml {bounded:6.2f} ms")
    print(f"{'load_settings(config.yaml)':<32} {median_ms(lambda: load_settings(NORMAL[0], overrides=False), repeat):6.2f} ms")
    for path in REFUSED:
        text = path.read_text()
        print(f"refused {path.name:<26} {median_ms(lambda path=path, text=text: refuse(path, text), max(1, repeat // 10)):6.2f} ms")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
