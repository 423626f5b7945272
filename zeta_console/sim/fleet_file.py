"""The fleet file of `zeta-console sim --fleet FILE`:

    time_scale: 1          # optional, default 1
    seed: 0                # optional
    hosts:
      - name: gpu-a        # required, unique
        port: 11434        # optional; 0 or absent = --port plus the host's index
        num_parallel: 1    # optional host defaults (ollama-api.md §3.8) ...
        max_loaded: 3
        max_queue: 512
        memory_gb: 24
        keep_alive: 5m     # seconds or a duration; negative = never unload
        models:            # required: names of built-in profiles, or mappings
          - qwen2.5-coder:7b
          - {name: qwen3:14b, decode_tps: 20, load_s: 8}     # a built-in profile, changed
          - {name: tiny:1b, capabilities: [completion], decode_tps: 200}   # a new one

Built-in profiles: qwen2.5-coder:7b, qwen3-embedding:4b, qwen3:14b; a new model starts from
the coder's figures. Mistakes raise UserError("<file>:<line>: <key>: <problem>", exit 2).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from zeta_console.number_rules import parse_duration
from zeta_console.sim.profiles import CODER, EMBEDDER, GIB, REASONER, FleetSpec, HostSpec, ModelProfile
from zeta_console.yaml_source import Keys, YamlSource, read_yaml

BUILT_IN = {profile.name: profile for profile in (CODER, EMBEDDER, REASONER)}
KNOWN_CAPABILITIES = {"completion", "tools", "insert", "vision", "embedding", "thinking"}
_HOST_KEYS = ["name", "port", "num_parallel", "max_loaded", "max_queue", "memory_gb", "keep_alive", "models"]
SYNTAX_LABEL = "yaml"  # what a YAML syntax error in the emulator's files is labelled with


# Value rules for the emulator's files: each raises ValueError naming the problem.
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


def _capabilities(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(item, str) for item in value):
        raise ValueError("expected a non-empty list of capability names")
    unknown = sorted(set(value) - KNOWN_CAPABILITIES)
    if unknown:
        raise ValueError(f"unknown capability {unknown[0]!r} (expected: {', '.join(sorted(KNOWN_CAPABILITIES))})")
    return tuple(value)


_MODEL_FIELDS: dict[str, Callable[[Any], Any]] = {
    "family": text,
    "parameter_size": text,
    "quantization": text,
    "disk_bytes": whole(0),
    "resident_bytes": whole(0),
    "context_length": whole(1),
    "embedding_length": whole(1),
    "capabilities": _capabilities,
    "load_s": number(0),
    "prefill_tps": number(above=0),
    "decode_tps": number(above=0),
    "thinking_tokens": whole(0),
    "num_parallel": whole(1),
    "block_count": whole(1),
}
assert set(_MODEL_FIELDS) | {"name"} == {field.name for field in fields(ModelProfile)}


def _model(source: YamlSource, entry: Any, keys: Keys) -> ModelProfile:
    if isinstance(entry, str):
        if entry not in BUILT_IN:
            raise source.error(keys, f"unknown built-in model {entry!r} (built in: {', '.join(BUILT_IN)}; or give a mapping)")
        return BUILT_IN[entry]
    mapping = source.mapping(entry, keys)
    source.check_keys(mapping, keys, ["name", *_MODEL_FIELDS])
    name = _required_name(source, mapping, keys)
    base = BUILT_IN.get(name) or replace(CODER, name=name, capabilities=("completion",))
    changes = {field: source.field(mapping, keys, field, convert, getattr(base, field)) for field, convert in _MODEL_FIELDS.items()}
    return replace(base, name=name, **changes)


def _required_name(source: YamlSource, mapping: dict[str, Any], keys: Keys) -> str:
    name = source.field(mapping, keys, "name", text, "")
    if not name:
        raise source.error((*keys, "name"), "required")
    return name


def _models(source: YamlSource, entry: dict[str, Any], keys: Keys) -> tuple[ModelProfile, ...]:
    if "models" not in entry:
        raise source.error(keys, "required")
    models = tuple(_model(source, item, (*keys, index)) for index, item in enumerate(source.sequence(entry["models"], keys)))
    names = [model.name for model in models]
    for index, model_name in enumerate(names):
        if model_name in names[:index]:
            raise source.error((*keys, index), f"model {model_name!r} listed twice")
    return models


def _host(source: YamlSource, entry: dict[str, Any], keys: Keys) -> HostSpec:
    source.check_keys(entry, keys, _HOST_KEYS)
    name = _required_name(source, entry, keys)
    models = _models(source, entry, (*keys, "models"))
    defaults = HostSpec(name=name)
    return HostSpec(
        name=name,
        port=source.field(entry, keys, "port", whole(0), 0),
        num_parallel=source.field(entry, keys, "num_parallel", whole(1), defaults.num_parallel),
        max_loaded=source.field(entry, keys, "max_loaded", whole(1), defaults.max_loaded),
        max_queue=source.field(entry, keys, "max_queue", whole(0), defaults.max_queue),
        memory_bytes=int(source.field(entry, keys, "memory_gb", number(above=0), defaults.memory_bytes / GIB) * GIB),
        keep_alive_s=source.field(entry, keys, "keep_alive", seconds_or_negative, defaults.keep_alive_s),
        models=models,
    )


def seconds_or_negative(value: Any) -> float:
    if isinstance(value, str) and value.strip().startswith("-"):
        return -seconds(value.strip()[1:])
    return seconds(value)


def load_fleet_spec(path: str | Path) -> FleetSpec:
    source = read_yaml(path, syntax_label=SYNTAX_LABEL)
    root = source.mapping(source.root, ())
    source.check_keys(root, (), ["hosts", "time_scale", "seed"])
    if "hosts" not in root:
        raise source.error(("hosts",), "required")
    hosts_list = source.sequence(root["hosts"], ("hosts",))
    if not hosts_list:
        raise source.error(("hosts",), "at least one host is required")
    hosts: list[HostSpec] = []
    for index, item in enumerate(hosts_list):
        keys: Keys = ("hosts", index)
        host = _host(source, source.mapping(item, keys), keys)
        if any(other.name == host.name for other in hosts):
            raise source.error((*keys, "name"), f"host {host.name!r} declared twice")
        hosts.append(host)
    return FleetSpec(
        hosts=tuple(hosts),
        time_scale=source.field(root, (), "time_scale", number(above=0), 1.0),
        seed=source.field(root, (), "seed", whole(0), 0),
    )
