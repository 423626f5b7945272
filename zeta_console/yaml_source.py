"""YAML files read once into plain Python values that remember the line of every key and item.

The main configuration (config.py), the emulator's fleet and scenario files (sim/) and the
benchmark scenarios (benchmark/) are all read here, so a mistake in any of them is one line,
``path:line: dotted.key: problem``, with exit status 2 (`ConfigError`; several at once are a
`ConfigErrors`). Aliases that would expand past `MAX_ALIAS_VALUES` values (a "billion laughs"
file) and nesting deeper than `MAX_DEPTH` are refused while the file is composed, before any
data is built.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import yaml
from yaml.composer import ComposerError
from yaml.constructor import SafeConstructor
from yaml.error import Mark
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from zeta_console.errors import UserError

Keys = tuple[str | int, ...]  # where a value sits: mapping keys and list indexes from the top
T = TypeVar("T")

MAX_DEPTH = 64  # nested collections; configuration files use fewer than 10
MAX_ALIAS_VALUES = 100_000  # values that aliases may add in total; a normal file's aliases add a few dozen


class ConfigError(UserError):
    """A mistake in a YAML file the user wrote, as one line: ``file:line: key: problem``."""

    exit_code = 2

    def __init__(self, file: str, line: int | None, key: str, problem: str) -> None:
        where = file if line is None else f"{file}:{line}"
        super().__init__(f"{where}: {key}: {problem}" if key else f"{where}: {problem}")
        self.file = file
        self.line = line
        self.key = key
        self.problem = problem
        self.errors: tuple[ConfigError, ...] = (self,)


class ConfigErrors(ConfigError):
    """Several mistakes found in one pass, one line each; its fields are the first one's."""

    def __init__(self, errors: Sequence[ConfigError]) -> None:
        first = errors[0]
        super().__init__(first.file, first.line, first.key, first.problem)
        self.args = ("\n".join(str(error) for error in errors),)
        self.errors = tuple(errors)


def raise_all(errors: Sequence[ConfigError]) -> None:
    """Raise every error in `errors` at once, in file order (lines from the file before the rest)."""
    if errors:
        ordered = sorted(errors, key=lambda error: (error.line is None, error.line or 0))
        raise ordered[0] if len(ordered) == 1 else ConfigErrors(ordered)


def dotted(keys: Keys) -> str:
    """("hosts", 0, "name") -> "hosts[0].name"; () -> ""."""
    text = ""
    for key in keys:
        text += f"[{key}]" if isinstance(key, int) else f".{key}" if text else key
    return text


def describe(value: Any) -> str:
    """A value as an error message shows it: strings quoted, collections by kind."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return json.dumps(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def unknown(noun: str, name: str, known: Sequence[str]) -> str:
    """`unknown key "qeue"; did you mean "queue"?`, or the choices when none is close."""
    close = difflib.get_close_matches(name, known, n=1)
    hint = f'; did you mean "{close[0]}"?' if close else f" (expected one of: {', '.join(known)})"
    return f'unknown {noun} "{name}"{hint}'


@dataclass(frozen=True)
class YamlSource:
    """One parsed file: `root` holds dicts (with string keys), lists and scalars; None when empty."""

    path: str
    root: Any
    value_lines: Mapping[Keys, int]  # where each value starts
    key_lines: Mapping[Keys, int]  # where each mapping key is written

    def line(self, keys: Keys) -> int:
        """Where the value at `keys` starts; for a key the file leaves out, where its nearest parent does."""
        for end in range(len(keys), -1, -1):
            if keys[:end] in self.value_lines:
                return self.value_lines[keys[:end]]
        return 1

    def error(self, keys: Keys, problem: str) -> ConfigError:
        return ConfigError(self.path, self.line(keys), dotted(keys), problem)

    def mapping(self, value: Any, keys: Keys) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(keys, f"expected a mapping, got {describe(value)}")
        return value

    def sequence(self, value: Any, keys: Keys) -> list[Any]:
        if not isinstance(value, list):
            raise self.error(keys, f"expected a list, got {describe(value)}")
        return value

    def check_keys(self, mapping: Mapping[str, Any], keys: Keys, allowed: Sequence[str], noun: str = "key") -> None:
        """Refuse the first key of `mapping` (in file order) that is not in `allowed`."""
        for error in self.unknown_keys(mapping, keys, allowed, noun):
            raise error

    def unknown_keys(self, mapping: Mapping[str, Any], keys: Keys, allowed: Sequence[str], noun: str = "key") -> list[ConfigError]:
        """One error per key of `mapping` that is not in `allowed`, in file order."""
        return [
            ConfigError(self.path, self.key_lines[(*keys, name)], dotted((*keys, name)), unknown(noun, name, allowed))
            for name in mapping
            if name not in allowed
        ]

    def field(self, mapping: Mapping[str, Any], keys: Keys, name: str, convert: Callable[[Any], T], default: T) -> T:
        """`mapping[name]` through `convert`, whose ValueError names the problem; `default` when absent."""
        if name not in mapping:
            return default
        try:
            return convert(mapping[name])
        except ValueError as error:
            raise self.error((*keys, name), str(error)) from None


def read_yaml(path: str | Path, *, syntax_label: str = "") -> YamlSource:
    """Read and parse `path`; every failure is a ConfigError. `syntax_label` prefixes YAML syntax errors."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), None, "", "no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(str(path), None, "", f"cannot read: {getattr(error, 'strerror', None) or error}") from None
    return parse_yaml(str(path), text, syntax_label=syntax_label)


def parse_yaml(path: str, text: str, *, syntax_label: str = "") -> YamlSource:
    """Parse `text` as the contents of `path` (which only names it in messages)."""
    builder = _Builder(path)
    try:
        node = yaml.compose(text, Loader=_BoundedLoader)
        root = None if node is None else builder.value(node, ())
    except yaml.YAMLError as error:
        raise _syntax_error(path, error, syntax_label) from None
    raise_all(builder.errors)
    return YamlSource(path, root, builder.value_lines, builder.key_lines)


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader whose composer refuses deep nesting and aliases that expand too far.

    Composing keeps an alias as a reference to its anchored node, so memory stays small; the
    cost comes when the nodes are turned into data. So each node's expanded size (values it
    stands for, aliases included) is noted as it is composed, and every alias adds its node's
    size to a running total that must stay within MAX_ALIAS_VALUES.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._alias_values = 0
        self._sizes: dict[int, int] = {}  # id(node) -> values it expands to; absent while it is being composed

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]  # types-PyYAML leaves Parser.peek_event unannotated
        if isinstance(event, AliasEvent):
            node = super().compose_node(parent, index)
            self._alias_values += self._sizes.get(id(node), 0)  # an alias into its own collection: _Builder refuses it
            if self._alias_values > MAX_ALIAS_VALUES:
                raise ComposerError(
                    None, None, f"aliases expand to more than {MAX_ALIAS_VALUES} values", cast(Mark, event.start_mark)
                )  # pure-Python parser: its Mark
            return node
        if self._depth >= MAX_DEPTH:
            raise ComposerError(None, None, f"nested more than {MAX_DEPTH} levels deep", event.start_mark)
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        self._sizes[id(node)] = 1 + sum(self._sizes.get(id(child), 0) for child in _children(node))
        return node


def _children(node: Node | None) -> list[Node]:
    if isinstance(node, SequenceNode):
        items: list[Node] = node.value
        return items
    if isinstance(node, MappingNode):
        return [value for _, value in node.value]
    return []


def _syntax_error(path: str, error: yaml.YAMLError, label: str) -> ConfigError:
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        context = f" ({error.context})" if error.context else ""
        return ConfigError(path, mark.line + 1 if mark else None, label, f"{error.problem}{context}")
    return ConfigError(path, None, label, str(error).replace("\n", " "))


_COLLECTION_TAGS = frozenset({"tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"})


class _Builder:
    """Composed nodes -> plain values, noting the line of every value and key on the way."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.value_lines: dict[Keys, int] = {}
        self.key_lines: dict[Keys, int] = {}
        self.errors: list[ConfigError] = []  # key mistakes; the parse goes on past them
        self._constructor = SafeConstructor()
        self._open: set[int] = set()  # collections being built: an alias back into one would never end

    def value(self, node: Node, keys: Keys) -> Any:
        self.value_lines[keys] = node.start_mark.line + 1
        if isinstance(node, ScalarNode):
            return self._constructor.construct_object(node, deep=True)
        if node.tag not in _COLLECTION_TAGS:  # worded as the constructor words it for a scalar
            raise ConfigError(self.path, self.value_lines[keys], "", f"could not determine a constructor for the tag '{node.tag}'")
        if id(node) in self._open:
            raise ConfigError(self.path, self.value_lines[keys], dotted(keys), "an alias refers to a collection that contains it")
        self._open.add(id(node))
        try:
            if isinstance(node, MappingNode):
                return self._mapping(node, keys)
            return [self.value(item, (*keys, index)) for index, item in enumerate(node.value)]
        finally:
            self._open.discard(id(node))

    def _mapping(self, node: MappingNode, keys: Keys) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            name = key_node.value if isinstance(key_node, ScalarNode) else ""
            line = key_node.start_mark.line + 1
            if not name:
                self.errors.append(ConfigError(self.path, line, dotted(keys), "expected a name as key"))
                continue
            if name in result:
                self.errors.append(ConfigError(self.path, line, dotted((*keys, name)), "duplicate key"))
                continue
            self.key_lines[(*keys, name)] = line
            result[name] = self.value(value_node, (*keys, name))
        return result
