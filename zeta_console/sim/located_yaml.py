"""YAML that remembers where each key was, for `file:line: key: problem` messages."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml

from zeta_console.config import parse_duration
from zeta_console.errors import UserError

T = TypeVar("T")


class LocatedDict(dict[str, Any]):
    line: int = 1
    key_lines: dict[str, int]


class LocatedList(list[Any]):
    line: int = 1
    item_lines: list[int]


class _LineLoader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML ships no annotations
    pass


def _mapping(loader: _LineLoader, node: yaml.MappingNode) -> LocatedDict:
    result = LocatedDict(loader.construct_mapping(node, deep=True))
    result.line = node.start_mark.line + 1
    result.key_lines = {str(loader.construct_object(key)): key.start_mark.line + 1 for key, _ in node.value}
    return result


def _sequence(loader: _LineLoader, node: yaml.SequenceNode) -> LocatedList:
    result = LocatedList(loader.construct_sequence(node, deep=True))
    result.line = node.start_mark.line + 1
    result.item_lines = [item.start_mark.line + 1 for item in node.value]
    return result


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _sequence)


class LocatedFile:
    """One YAML file being read: every problem becomes a UserError naming file, line and key."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as error:
            raise UserError(f"{self.path}: cannot read: {error.strerror or error}", exit_code=2) from None
        try:
            self.root = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            line = mark.line + 1 if mark is not None else 1
            raise UserError(f"{self.path}:{line}: yaml: {getattr(error, 'problem', None) or error}", exit_code=2) from None

    def fail(self, line: int, key: str, problem: str) -> UserError:
        return UserError(f"{self.path}:{line}: {key}: {problem}", exit_code=2)

    def mapping(self, value: Any, key: str, line: int) -> LocatedDict:
        if not isinstance(value, LocatedDict):
            raise self.fail(line, key, "expected a mapping")
        return value

    def sequence(self, value: Any, key: str, line: int) -> LocatedList:
        if not isinstance(value, LocatedList):
            raise self.fail(line, key, "expected a list")
        return value

    def check_keys(self, mapping: LocatedDict, prefix: str, known: set[str]) -> None:
        for name in mapping:
            if name not in known:
                raise self.fail(mapping.key_lines.get(name, mapping.line), _join(prefix, name), f"unknown key (expected one of: {', '.join(sorted(known))})")

    def field(self, mapping: LocatedDict, prefix: str, name: str, convert: Callable[[Any], T], default: T) -> T:
        """`mapping[name]` through `convert` (which raises ValueError with the problem)."""
        if name not in mapping:
            return default
        try:
            return convert(mapping[name])
        except ValueError as error:
            raise self.fail(mapping.key_lines.get(name, mapping.line), _join(prefix, name), str(error)) from None


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def number(minimum: float | None = None, *, above: float | None = None) -> Callable[[Any], float]:
    def convert(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"expected a number, got {value!r}")
        if minimum is not None and value < minimum:
            raise ValueError(f"must be >= {minimum:g}")
        if above is not None and value <= above:
            raise ValueError(f"must be > {above:g}")
        return float(value)

    return convert


def whole(minimum: int) -> Callable[[Any], int]:
    def convert(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected a whole number, got {value!r}")
        if value < minimum:
            raise ValueError(f"must be >= {minimum}")
        return value

    return convert


def text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a non-empty string, got {value!r}")
    return value


def seconds(value: Any) -> float:
    """A number of seconds, or a duration such as "30s", "500ms", "2m"."""
    if isinstance(value, str):
        parsed = parse_duration(value.strip())
        if parsed is None:
            raise ValueError(f"expected seconds or a duration like 30s, got {value!r}")
        return parsed
    return number()(value)
