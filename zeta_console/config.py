"""YAML configuration -> validated, immutable `Settings`.

The file is read through `yaml_source`, so every value keeps its line number: a mistake is
reported as one line naming file, line and dotted key, e.g.
``config.yaml:14: thresholds.queue: expected a positive integer, got "lots"``.

Layering: a section given as a mapping is merged key by key over the layer below (the built-in
defaults, then the config file, then the operator's overrides file); a list (hosts, models, a
route's tiers) replaces what was below it. `models` may also be given as a mapping by tier, which
changes those models and keeps the rest (`models: {coder: {thresholds: {ttft_s: 2}}}`).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import json
import os
import re
import sys
import tempfile
import types
import typing
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn

import yaml

from zeta_console.backends.registry import BACKENDS
from zeta_console.number_rules import number_problem, number_value
from zeta_console.router.policies import policy_name
from zeta_console.settings import CAPABILITIES, HostConfig, ModelConfig, Settings, Task, Telemetry, Thresholds, default_ollama_url
from zeta_console.wording import counted
from zeta_console.yaml_source import ConfigError, Keys, YamlSource, describe, dotted, parse_yaml, raise_all, read_yaml, unknown

APP_DIR = "zeta-console"
CONFIG_FILE = "config.yaml"
OVERRIDES_FILE = "overrides.yaml"

# Defaults computed at load time rather than declared on the dataclass.
_COMPUTED_DEFAULTS: Mapping[tuple[type, str], Callable[[], Any]] = {(HostConfig, "url"): default_ollama_url}
_ENUM_NOUNS: Mapping[type, str] = {Task: "task"}
# List items a later layer may address by name (a mapping) instead of replacing the whole list.
_ITEM_NAMES: Mapping[type, str] = {ModelConfig: "tier"}

Locations = dict[str, tuple[str, int]]  # dotted key -> (file, line) that set it


def xdg_dir(variable: str, fallback: str) -> Path:
    """An XDG base directory; relative values are invalid per the spec and ignored."""
    value = os.environ.get(variable, "")
    return Path(value) if value and os.path.isabs(value) else Path.home() / fallback


def config_dir() -> Path:
    return xdg_dir("XDG_CONFIG_HOME", ".config") / APP_DIR


def overrides_path() -> Path:
    """Where the console's "save settings" writes the operator's changes."""
    return config_dir() / OVERRIDES_FILE


def find_config_path(path: str | Path | None = None) -> Path | None:
    """The file the console would load: `path`, ./config.yaml, the XDG one, or None (built-ins)."""
    if path is not None:
        return Path(path)
    for candidate in (Path(CONFIG_FILE), config_dir() / CONFIG_FILE):
        if candidate.is_file():
            return candidate
    return None


def load_settings(path: str | Path | None = None, *, overrides: bool = True) -> Settings:
    """Load and validate the configuration, then layer the operator's overrides file over it.

    `Settings.source` names the config file (overrides do not change it). Raises ConfigError.
    """
    config_path = find_config_path(path)
    settings = Settings()
    locations: Locations = {}
    if config_path is not None:
        settings = _layer(read_yaml(config_path), settings, locations, source=str(config_path))
    layer = overrides_path()
    if overrides and layer.is_file():
        settings = _layer(read_yaml(layer), settings, locations, source=settings.source)
    return settings


def save_overrides(changes: Mapping[str, Any], *, base: Settings | None = None) -> Path:
    """Merge `changes` into the overrides file and return its path.

    Keys are dotted setting names ("policy", "thresholds.ttft_s"); values may be plain data,
    enums or settings dataclasses ("models" takes the whole tuple of ModelConfig). A value of
    None removes that key from the overrides. The result is validated over `base` (default:
    the configuration the console would load, without overrides) before anything is written.
    """
    path = overrides_path()
    document = _read_plain(path)
    for name, value in changes.items():
        _set_dotted(document, name.split("."), plain_data(value))
    text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    _layer(parse_yaml(str(path), text), base or load_settings(overrides=False), {}, source=None)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, delete=False, suffix=".tmp") as handle:
        handle.write(text)
    os.replace(handle.name, path)
    return path


def clear_overrides() -> None:
    """Forget every saved operator change."""
    overrides_path().unlink(missing_ok=True)


def warn_unset_keys(settings: Settings) -> None:
    """One line per host whose key variable is not set (its name only: a value is never printed)."""
    for host in settings.hosts:
        if (variable := host.unset_key_variable) is not None:
            print(f"zeta-console: warning: host {host.name}: api_key_env {variable} is not set: its requests go without a key "
                  "(fine for a server started without one; one that wants it answers 401)", file=sys.stderr)


def run_check_config_command(args: argparse.Namespace) -> int:
    """`zeta-console check-config [PATH]`: validate without running; every mistake found is one line."""
    path: str | None = args.config
    try:
        settings = load_settings(path, overrides=path is None)
    except ConfigError as error:
        for each in error.errors:
            print(f"zeta-console: {each}", file=sys.stderr)
        return error.exit_code
    warn_unset_keys(settings)
    used_overrides = path is None and overrides_path().is_file()
    layered = f" + {overrides_path()}" if used_overrides else ""
    counts = f"{counted(len(settings.hosts), 'host')}, {counted(len(settings.models), 'model')}"
    print(f"ok: {settings.source}{layered} ({counts}, policy {settings.policy})")
    return 0


# --- layers -------------------------------------------------------------------------------


def _layer(document: YamlSource, base: Settings, locations: Locations, source: str | None) -> Settings:
    """`document` read over `base`; every mistake in it is raised at once (ConfigErrors when several)."""
    settings = base
    reader = _Reader(document, locations, base.thresholds)
    if document.root is not None:
        if not isinstance(document.root, dict):
            raise document.error((), f"expected a mapping of settings at the top level, got {describe(document.root)}")
        settings = reader.read(document.root, Settings, (), base, "")
    if source is not None:
        settings = dataclasses.replace(settings, source=source)
    raise_all([*reader.errors, *_check_references(settings, locations, document.path, reader.incomplete)])
    return settings


# --- reading plain values into typed ones ------------------------------------------------------


class _Refused(Exception):
    """A value was refused and its error recorded; the caller leaves it out and reads on."""


class _Reader:
    """Turns the file's plain values into the types the Settings dataclasses declare.

    Every mistake is recorded in `errors` and reading goes on without that value (its default
    or the layer below applies), so one run reports them all.
    """

    def __init__(self, document: YamlSource, locations: Locations, thresholds: Thresholds) -> None:
        self.document = document
        self.locations = locations
        self.thresholds = thresholds  # what a model's partial `thresholds` is merged over
        self.errors: list[ConfigError] = []
        # Sections that lost an item or were refused whole: names in them cannot be checked against.
        self.incomplete: set[str | int] = set()

    def fail(self, keys: Keys, problem: str) -> NoReturn:
        self.errors.append(self.document.error(keys, problem))
        raise _Refused

    @contextlib.contextmanager
    def _collecting(self) -> Iterator[None]:
        """A ConfigError from yaml_source's shared checks is recorded like the reader's own."""
        try:
            yield
        except ConfigError as error:
            self.errors.extend(error.errors)
            raise _Refused from None

    def _drop(self, keys: Keys) -> None:
        if len(keys) <= 2:  # a top-level section or one of its items
            self.incomplete.add(keys[0])

    def locate(self, key: str, keys: Keys) -> None:
        self.locations[key] = (self.document.path, self.document.line(keys))

    def read(self, value: Any, hint: Any, keys: Keys, base: Any, field: str) -> Any:
        if keys:
            self.locate(dotted(keys), keys)
        origin = typing.get_origin(hint)
        if origin in (typing.Union, types.UnionType):
            if value is None:
                return None
            (inner,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
            if base is None and inner is Thresholds:
                base = self.thresholds
            return self.read(value, inner, keys, base, field)
        if dataclasses.is_dataclass(hint):
            return self._dataclass(value, typing.cast(type, hint), keys, base)
        if origin is tuple and isinstance(value, dict) and typing.get_args(hint)[0] in _ITEM_NAMES:
            return self._named_items(value, typing.get_args(hint)[0], keys, base or (), field)
        if origin is tuple or origin is frozenset:
            items = []
            for index, item in enumerate(self._sequence(value, keys, field)):
                try:
                    items.append(self.read(item, typing.get_args(hint)[0], (*keys, index), None, field))
                except _Refused:
                    self._drop((*keys, index))
            return frozenset(items) if origin is frozenset else tuple(items)
        if origin is Mapping:
            return self._mapping(value, typing.get_args(hint), keys, base or {}, field)
        return self._scalar(value, hint, keys, field)

    def _dataclass(self, value: Any, cls: type, keys: Keys, base: Any) -> Any:
        hints = typing.get_type_hints(cls)
        fields = {field.name: field for field in dataclasses.fields(cls) if field.name != "source"}
        given = self._pairs(value, keys, list(fields), "key")
        values: dict[str, Any] = {}
        refused: list[str] = []
        # `thresholds` first: a model's partial thresholds merge over the global ones.
        for name in sorted(given, key=lambda name: name != "thresholds"):
            field_base = getattr(base, name) if base is not None else _declared_default(fields[name])
            try:
                values[name] = self.read(given[name], hints[name], (*keys, name), field_base, name)
            except _Refused:
                refused.append(name)
                self._drop((*keys, name))
                continue
            if cls is Settings and name == "thresholds":
                self.thresholds = values[name]
        if base is not None:
            return dataclasses.replace(base, **values)
        for name, field in fields.items():
            if name in values or _declared_default(field) is not dataclasses.MISSING:
                continue
            if (cls, name) in _COMPUTED_DEFAULTS:
                values[name] = _COMPUTED_DEFAULTS[(cls, name)]()
            elif name not in refused:
                self.errors.append(self.document.error(keys, f'missing key "{name}"'))
        if any(name not in values and _declared_default(field) is dataclasses.MISSING for name, field in fields.items()):
            raise _Refused
        return cls(**values)

    def _named_items(self, value: Any, item_type: type, keys: Keys, base: tuple[Any, ...], field: str) -> tuple[Any, ...]:
        name = _ITEM_NAMES[item_type]
        items = {getattr(item, name): item for item in base}
        for item_name, item in self._pairs(value, keys, list(items), name).items():
            # the checks across sections name items by index ("models[0].hosts[0]")
            self.locate(f"{dotted(keys)}[{list(items).index(item_name)}]", (*keys, item_name))
            try:
                items[item_name] = self.read(item, item_type, (*keys, item_name), items[item_name], field)
            except _Refused:
                self._drop((*keys, item_name))
        return tuple(items.values())

    def _mapping(self, value: Any, args: tuple[Any, ...], keys: Keys, base: Mapping[Any, Any], field: str) -> Mapping[Any, Any]:
        key_type, value_type = args
        merged = dict(base)
        noun = _ENUM_NOUNS.get(key_type, "key")
        for name, item in self._pairs(value, keys, _enum_values(key_type), noun).items():
            item_key = key_type(name) if isinstance(key_type, type) and issubclass(key_type, StrEnum) else name
            try:
                merged[item_key] = self.read(item, value_type, (*keys, name), base.get(item_key), field)
            except _Refused:
                self._drop((*keys, name))
        return types.MappingProxyType(merged)

    def _pairs(self, value: Any, keys: Keys, allowed: list[str] | None, noun: str) -> dict[str, Any]:
        """The mapping's known keys; each unknown one is recorded and left out."""
        with self._collecting():
            pairs = self.document.mapping(value, keys)
        if allowed is None:
            return pairs
        self.errors.extend(self.document.unknown_keys(pairs, keys, allowed, noun))
        return {name: item for name, item in pairs.items() if name in allowed}

    def _sequence(self, value: Any, keys: Keys, field: str) -> list[Any]:
        with self._collecting():
            items = self.document.sequence(value, keys)
        if not items and field in _NON_EMPTY:
            self.fail(keys, "expected at least one item")
        return items

    def _scalar(self, value: Any, hint: Any, keys: Keys, field: str) -> Any:
        if hint is bool:
            if not isinstance(value, bool):
                self.fail(keys, f"expected true or false, got {describe(value)}")
            return value
        if hint is int or hint is float:
            problem = number_problem(value, hint, field)
            if problem:
                self.fail(keys, problem)
            return number_value(value, hint, field)
        if not isinstance(value, str) or not value.strip():
            self.fail(keys, f"expected a non-empty string, got {describe(value)}")
        if isinstance(hint, type) and issubclass(hint, StrEnum):
            choices = [member.value for member in hint]
            if value not in choices:
                self.fail(keys, unknown(_ENUM_NOUNS.get(hint, field), value, choices))
            return hint(value)
        problem = _STRING_CHECKS[field](value) if field in _STRING_CHECKS else None
        if problem:
            self.fail(keys, problem)
        return value


def _declared_default(field: dataclasses.Field[Any]) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return dataclasses.MISSING


def _enum_values(enum_type: Any) -> list[str] | None:
    return [member.value for member in enum_type] if isinstance(enum_type, type) and issubclass(enum_type, StrEnum) else None


# --- value rules, keyed by field name (the bounds of numbers are in number_rules.py) --------------

# Lists that may not be empty (nothing could work without an item); any other list may be,
# e.g. a route: a chat-only fleet has no embedding route.
_NON_EMPTY = frozenset({"hosts", "models", "capabilities", "examples"})


def _port_problem(port: str) -> str | None:
    return None if 1 <= int(port) <= 65535 else f"port {port} is out of range (expected 1 to 65535)"


def _check_url(value: str) -> str | None:
    expected = f'expected an http(s) URL such as "http://127.0.0.1:11434", got {json.dumps(value)}'
    try:
        parts = urllib.parse.urlsplit(value)
    except ValueError:  # e.g. an unclosed "[" of an IPv6 address
        return expected
    address = parts.netloc.rpartition("@")[2]
    host, colon, port = address.rpartition(":")
    if not colon or "]" in port:  # no port; a colon, if any, is inside an IPv6 address
        host, colon, port = address, "", ""
    if parts.scheme not in ("http", "https") or not host.strip("[]") or (colon and not port.isdigit()):
        return expected
    return _port_problem(port) if colon else None


def _check_listen(value: str) -> str | None:
    if value.startswith("["):
        host, colon, port = value[1:].partition("]:")
    else:
        host, colon, port = value.rpartition(":")
    if not host or not colon or not port.isdigit() or (":" in host and not value.startswith("[")):
        return f'expected host:port such as "127.0.0.1:11435", got {json.dumps(value)}'
    return _port_problem(port)


def _check_origin(value: str) -> str | None:
    scheme, separator, rest = value.partition("://")
    if value != "*" and (not separator or not scheme or not rest):
        return f'expected an origin such as "https://chat.example.com" or "chrome-extension://*", got {json.dumps(value)}'
    return None


def _check_policy(value: str) -> str | None:
    try:
        policy_name(value)
    except ValueError as error:
        return str(error)
    return None


def _check_api(value: str) -> str | None:
    return None if value in BACKENDS else unknown("api", value, sorted(BACKENDS))


def _check_env_name(value: str) -> str | None:
    """The name of an environment variable, never the secret itself (which is not echoed back)."""
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,127}", value):
        return None
    return "expected the name of an environment variable holding the key (letters, digits and _, e.g. LLAMA_API_KEY), not the key itself"


def _check_capability(value: str) -> str | None:
    return None if value in CAPABILITIES else unknown("capability", value, sorted(CAPABILITIES))


def _check_theme(value: str) -> str | None:
    names = shipped_theme_names()
    return None if value in names else unknown("theme", value, names)


def _check_writable_file(value: str) -> str | None:
    """A file the program will create or write: not a directory, in a directory it may write."""
    path = Path(value).expanduser()
    if path.is_dir():
        return f"{json.dumps(value)} is a directory; expected a file path"
    if path.exists():
        return None if os.access(path, os.W_OK) else f"{json.dumps(value)} is not writable"
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        return f"cannot create {json.dumps(value)}: {parent} is not a directory"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot create {json.dumps(value)}: {parent} is not writable"
    return None


@functools.cache
def shipped_theme_names() -> tuple[str, ...]:
    """The `name` of every theme file in the package (themes/*.yaml), read without Textual."""
    names: list[str] = []
    for entry in resources.files("zeta_console.themes").iterdir():
        if not entry.name.endswith(".yaml"):
            continue
        try:
            theme = parse_yaml(entry.name, entry.read_text(encoding="utf-8")).root
        except ConfigError:
            continue  # the console reports a broken theme file when it loads the themes
        if isinstance(theme, dict) and isinstance(theme.get("name"), str):
            names.append(theme["name"])
    return tuple(sorted(names))


_STRING_CHECKS: Mapping[str, Callable[[str], str | None]] = {
    "url": _check_url,
    "api": _check_api,
    "api_key_env": _check_env_name,
    "listen": _check_listen,
    "capabilities": _check_capability,
    "policy": _check_policy,
    "allowed_origins": _check_origin,
    "theme": _check_theme,
    "path": _check_writable_file,
}


# --- checks across sections --------------------------------------------------------------------


def _check_references(settings: Settings, locations: Locations, file: str, incomplete: set[str | int]) -> list[ConfigError]:
    """Mistakes across sections; names in a section that lost an item (`incomplete`) are not checked."""
    errors: list[ConfigError] = []
    advised: set[str] = set()  # built-in sections already named: one line each is enough

    def fail(key: str, problem: str) -> None:
        # A value the file did not set (a default) is reported where its nearest parent was set.
        parts = key.replace("[", ".[").split(".")
        for end in range(len(parts), 0, -1):
            located = locations.get(".".join(parts[:end]).replace(".[", "["))
            if located:
                errors.append(ConfigError(located[0], located[1], key, problem))
                return
        section = key.split("[")[0]
        if section not in advised:
            advised.add(section)
            errors.append(ConfigError(file, None, key, f"{problem}; this is the built-in default, set {section} in the file"))

    host_names = [host.name for host in settings.hosts]
    tiers = list(dict.fromkeys(model.tier for model in settings.models))
    for index, name in enumerate(host_names):
        if name in host_names[:index]:
            fail(f"hosts[{index}].name", f'duplicate host "{name}"')
    for index, configured in enumerate(settings.hosts):
        if configured.api == "ollama" and configured.api_key_env is not None:
            fail(f"hosts[{index}].api_key_env", "applies to api: openai hosts only (Ollama takes no key)")
        if configured.api == "ollama" and configured.telemetry not in (Telemetry.AUTO, Telemetry.NONE):
            fail(f"hosts[{index}].telemetry", f"{configured.telemetry.value} is not an Ollama server's; an Ollama host has auto or none")
    for index, model in enumerate(settings.models):
        if any(other.tier == model.tier for other in settings.models[:index]):
            fail(f"models[{index}].tier", f'duplicate tier "{model.tier}"')
        for host_index, host in enumerate(model.hosts):
            if host not in host_names and "hosts" not in incomplete:
                fail(f"models[{index}].hosts[{host_index}]", unknown("host", host, host_names))
    for task, route in settings.routes.items():
        needed = "embedding" if task == Task.EMBEDDING else "completion"
        for position, tier in enumerate(route):
            key = f"routes.{task}[{position}]"
            if "models" in incomplete:
                continue
            if tier not in tiers:
                fail(key, unknown("tier", tier, tiers))
            elif needed not in settings.model(tier).capabilities:
                fail(key, f'tier "{tier}" cannot serve {task} (it lacks the "{needed}" capability)')
    if settings.classifier.semantic and not settings.routes.get(Task.EMBEDDING):
        fail("classifier.semantic", "needs an embedding route (routes.embedding is empty)")
    if settings.adaptive.min_weight > settings.adaptive.max_weight:
        fail("adaptive.max_weight", f"must be at least adaptive.min_weight ({settings.adaptive.min_weight:g})")
    if settings.breaker.base_ejection_s > settings.breaker.max_ejection_s:
        fail("breaker.max_ejection_s", f"must be at least breaker.base_ejection_s ({settings.breaker.base_ejection_s:g})")
    return errors


# --- writing overrides ---------------------------------------------------------------------------


def _read_plain(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    document = read_yaml(path).root
    return document if isinstance(document, dict) else {}


def _set_dotted(document: dict[str, Any], keys: list[str], value: Any) -> None:
    *parents, leaf = keys
    node = document
    for key in parents:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    if value is None:
        node.pop(leaf, None)
    else:
        node[leaf] = value


_AS_THEY_ARE = frozenset({str, int, float, bool, type(None)})  # exactly these types (not an enum of them): plain already
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}  # a dataclass's fields by class: `dataclasses.fields` builds them on every call


def plain_data(value: Any) -> Any:
    """Settings values and router records as plain data for YAML and JSON.
    The journal converts every request's Decision (its candidates and their terms), so each kind is told apart cheaply."""
    kind = type(value)
    if kind in _AS_THEY_ARE:
        return value
    if isinstance(value, StrEnum):
        return value.value
    names = _FIELD_NAMES.get(kind)
    if names is None and dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = _FIELD_NAMES[kind] = tuple(field.name for field in dataclasses.fields(value))
    if names is not None:
        return {name: plain_data(getattr(value, name)) for name in names}
    if isinstance(value, frozenset):
        return sorted(plain_data(item) for item in value)
    if isinstance(value, (tuple, list)):
        return [plain_data(item) for item in value]
    if kind is dict or isinstance(value, Mapping):
        return {str(plain_data(key)): plain_data(item) for key, item in value.items()}
    return value
