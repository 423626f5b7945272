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

from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from zeta_console.sim.located_yaml import LocatedDict, LocatedFile, number, seconds, text, whole
from zeta_console.sim.profiles import CODER, EMBEDDER, GIB, REASONER, FleetSpec, HostSpec, ModelProfile

BUILT_IN = {profile.name: profile for profile in (CODER, EMBEDDER, REASONER)}
KNOWN_CAPABILITIES = {"completion", "tools", "insert", "vision", "embedding", "thinking"}
_HOST_KEYS = {"name", "port", "num_parallel", "max_loaded", "max_queue", "memory_gb", "keep_alive", "models"}


def _capabilities(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(item, str) for item in value):
        raise ValueError("expected a non-empty list of capability names")
    unknown = sorted(set(value) - KNOWN_CAPABILITIES)
    if unknown:
        raise ValueError(f"unknown capability {unknown[0]!r} (expected: {', '.join(sorted(KNOWN_CAPABILITIES))})")
    return tuple(value)


_MODEL_FIELDS: dict[str, Any] = {
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


def _model(file: LocatedFile, entry: Any, key: str, line: int) -> ModelProfile:
    if isinstance(entry, str):
        if entry not in BUILT_IN:
            raise file.fail(line, key, f"unknown built-in model {entry!r} (built in: {', '.join(BUILT_IN)}; or give a mapping)")
        return BUILT_IN[entry]
    mapping = file.mapping(entry, key, line)
    file.check_keys(mapping, key, set(_MODEL_FIELDS) | {"name"})
    name = file.field(mapping, key, "name", text, "")
    if not name:
        raise file.fail(mapping.line, f"{key}.name", "required")
    base = BUILT_IN.get(name) or replace(CODER, name=name, capabilities=("completion",))
    changes = {field: file.field(mapping, key, field, convert, getattr(base, field)) for field, convert in _MODEL_FIELDS.items()}
    return replace(base, name=name, **changes)


def _host(file: LocatedFile, entry: LocatedDict, key: str) -> HostSpec:
    file.check_keys(entry, key, _HOST_KEYS)
    name = file.field(entry, key, "name", text, "")
    if not name:
        raise file.fail(entry.line, f"{key}.name", "required")
    if "models" not in entry:
        raise file.fail(entry.line, f"{key}.models", "required")
    models_list = file.sequence(entry["models"], f"{key}.models", entry.key_lines["models"])
    models = tuple(_model(file, item, f"{key}.models[{index}]", models_list.item_lines[index]) for index, item in enumerate(models_list))
    names = [model.name for model in models]
    for index, model_name in enumerate(names):
        if model_name in names[:index]:
            raise file.fail(models_list.item_lines[index], f"{key}.models[{index}]", f"model {model_name!r} listed twice")
    defaults = HostSpec(name=name)
    return HostSpec(
        name=name,
        port=file.field(entry, key, "port", whole(0), 0),
        num_parallel=file.field(entry, key, "num_parallel", whole(1), defaults.num_parallel),
        max_loaded=file.field(entry, key, "max_loaded", whole(1), defaults.max_loaded),
        max_queue=file.field(entry, key, "max_queue", whole(0), defaults.max_queue),
        memory_bytes=int(file.field(entry, key, "memory_gb", number(above=0), defaults.memory_bytes / GIB) * GIB),
        keep_alive_s=file.field(entry, key, "keep_alive", seconds_or_negative, defaults.keep_alive_s),
        models=models,
    )


def seconds_or_negative(value: Any) -> float:
    if isinstance(value, str) and value.strip().startswith("-"):
        return -seconds(value.strip()[1:])
    return seconds(value)


def load_fleet_spec(path: str | Path) -> FleetSpec:
    file = LocatedFile(path)
    root = file.mapping(file.root, "(top level)", 1)
    file.check_keys(root, "", {"hosts", "time_scale", "seed"})
    if "hosts" not in root:
        raise file.fail(root.line, "hosts", "required")
    hosts_list = file.sequence(root["hosts"], "hosts", root.key_lines["hosts"])
    if not hosts_list:
        raise file.fail(hosts_list.line, "hosts", "at least one host is required")
    hosts: list[HostSpec] = []
    for index, item in enumerate(hosts_list):
        key = f"hosts[{index}]"
        host = _host(file, file.mapping(item, key, hosts_list.item_lines[index]), key)
        if any(other.name == host.name for other in hosts):
            raise file.fail(hosts_list.item_lines[index], f"{key}.name", f"host {host.name!r} declared twice")
        hosts.append(host)
    return FleetSpec(
        hosts=tuple(hosts),
        time_scale=file.field(root, "", "time_scale", number(above=0), 1.0),
        seed=file.field(root, "", "seed", whole(0), 0),
    )
