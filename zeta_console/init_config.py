"""`zeta-console init`: write a configuration from the models the hosts actually serve.

Each host is first asked what it is: Ollama answers /api/tags; an OpenAI-compatible server answers
/v1/models (`api: openai`), and its gauges' kind is found as the router would read them
(`owned_by`, llama.cpp's /props or /slots, vLLM's and SGLang's /metrics names; else `none`).
An Ollama host's /api/tags says what it has pulled and /api/show what each model can do; an
OpenAI-compatible host's /v1/models lists its ids (llama.cpp's /props adds tools, vision and its
slot count). Tiers are
guessed from that: an embedding model is the embedder; a thinking model (else the largest chat
model) is the reasoner; a coder-named model (else the chat model nearest a mid size) is the
coder. The file is shown before it is written, checked as `check-config` would check it, and an
existing file is only replaced with `--force`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from zeta_console.backends import telemetry
from zeta_console.backends.clients import describe_transport_error
from zeta_console.backends.registry import backend_factory
from zeta_console.backends.types import BackendError
from zeta_console.config import CONFIG_FILE, config_dir, load_settings
from zeta_console.errors import UserError
from zeta_console.ollama_api.names import canonical_name
from zeta_console.ollama_api.sizes import parameter_count
from zeta_console.router.health import is_local
from zeta_console.settings import CAPABILITIES, HostConfig, Settings, Task, Telemetry, default_ollama_url, ollama_url

MID_SIZE_B = 8.0  # billions of parameters: a chat model near this is quick enough for simple and code work
SUGGESTED_EMBEDDER = "nomic-embed-text"  # written, as a model to pull, when no host has an embedding model
CODER_NAME = re.compile(r"cod(e|er|ing|estral)|devstral", re.IGNORECASE)
ROUTES: dict[Task, tuple[str, ...]] = {
    Task.SIMPLE: ("coder", "reasoner"),
    Task.CODE: ("coder", "reasoner"),
    Task.COMPLEX_REASONING: ("reasoner", "coder"),
    Task.EMBEDDING: ("embedder",),
}


@dataclass(frozen=True)
class FoundModel:
    name: str  # as the first host that has it reports it
    hosts: tuple[str, ...]
    capabilities: frozenset[str]
    parameter_size: str | None  # "8.0B", as Ollama shows it
    billions: float | None  # parameters, for comparing sizes

    def describe(self) -> str:
        size = f", {self.parameter_size}" if self.parameter_size else ""
        return f"{self.name} ({', '.join(sorted(self.capabilities))}{size})"


@dataclass(frozen=True)
class Tier:
    tier: str
    model: str
    hosts: tuple[str, ...]
    capabilities: frozenset[str]
    why: str


@dataclass(frozen=True)
class FoundHost:
    name: str
    url: str
    api: str = "ollama"
    telemetry: str | None = None  # api: openai only: the kind of gauges found (llamacpp, vllm, sglang, none)
    slots: int | None = None  # llama.cpp's /props total_slots: the requests it runs at once

    def slots_comment(self) -> str:
        if self.slots is not None:
            return "the server's --parallel (/props total_slots)"
        if self.api == "ollama":
            return "raise to the server's OLLAMA_NUM_PARALLEL"
        return "raise to the requests the server runs at once (vLLM --max-num-seqs)"


@dataclass(frozen=True)
class Survey:
    hosts: tuple[FoundHost, ...]
    models: tuple[FoundModel, ...]


def host_names(urls: Sequence[str]) -> list[str]:
    """`local` for a loopback host, else the host name's first label; made unique with -2, -3..."""
    names: list[str] = []
    for index, url in enumerate(urls):
        hostname = urlsplit(url).hostname or ""
        if is_local(url):
            base = "local"
        elif hostname and not hostname.replace(".", "").isdigit() and ":" not in hostname:
            base = hostname.split(".")[0]
        else:
            base = f"host{index + 1}"
        name, n = base, 2
        while name in names:
            name, n = f"{base}-{n}", n + 1
        names.append(name)
    return names


def billions(parameter_size: str | None, count: int | None) -> float | None:
    """Billions of parameters: /api/show's exact count, else the size Ollama shows ("8.0B")."""
    count = count or (parameter_count(parameter_size) if parameter_size else None)
    return count / 1e9 if count else None


async def identify(name: str, url: str) -> FoundHost:
    """What answers at `url`: Ollama (/api/tags), else an OpenAI-compatible server (/v1/models) and
    the kind of its gauges. UserError when it is neither or does not answer."""
    async with httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(telemetry.READ_TIMEOUT_S * 2)) as client:
        failure = "no answer"

        async def get(path: str) -> httpx.Response | None:
            nonlocal failure
            try:
                response = await client.get(path)
            except httpx.HTTPError as error:
                failure = describe_transport_error(error)
                return None
            failure = f"{path}: HTTP {response.status_code}"
            return response if response.is_success else None

        tags = _json(await get("/api/tags"))
        if isinstance(tags, dict) and isinstance(tags.get("models"), list):
            return FoundHost(name, url)
        models = _json(await get("/v1/models"))
        if not (isinstance(models, dict) and isinstance(models.get("data"), list)):
            raise UserError(f"cannot read the models of a server at {url} ({failure}): neither /api/tags (Ollama) nor "
                            "/v1/models (OpenAI-compatible) answered; start `ollama serve` or the model server, or give --host URL")
        slots = telemetry.total_slots(_json(await get("/props")))
        kind = telemetry.kind_from_models(models)
        if kind is None and (slots is not None or isinstance(_json(await get("/slots")), list)):
            kind = "llamacpp"
        if kind is None:
            metrics = await get("/metrics")
            kind = telemetry.kind_from_metrics(metrics.text) if metrics is not None else None
        return FoundHost(name, url, "openai", kind or Telemetry.NONE.value, slots if kind == "llamacpp" else None)


def _json(response: httpx.Response | None) -> Any:
    try:
        return response.json() if response is not None else None
    except ValueError:
        return None


async def survey(urls: Sequence[str], settings: Settings | None = None) -> Survey:
    """Every model on every host, with what the host says it can do. UserError when a host cannot be read."""
    timeouts = (settings or Settings()).timeouts
    hosts = [await identify(name, url) for name, url in zip(host_names(urls), urls, strict=True)]
    models: dict[str, FoundModel] = {}  # canonical name -> the model, with every host that has it
    for host in hosts:
        backend = backend_factory(host.api)(HostConfig(host.name, host.url, api=host.api), timeouts)
        try:
            for model in await backend.installed():
                key = canonical_name(model.name)
                if key in models:
                    models[key] = replace(models[key], hosts=(*models[key].hosts, host.name))
                    continue
                facts = await backend.show(model.name)
                size = facts.parameter_size or model.parameter_size
                capabilities = _capabilities(host, model.name, facts.capabilities)
                models[key] = FoundModel(model.name, (host.name,), capabilities & CAPABILITIES, size, billions(size, facts.parameter_count))
        except BackendError as error:
            kind, advice = ("Ollama", "start `ollama serve`") if host.api == "ollama" else ("the server", "check that it runs")
            raise UserError(f"cannot read the models of {kind} at {host.url} ({error.message}): {advice} or give --host URL") from None
        finally:
            await backend.aclose()
    return Survey(tuple(hosts), tuple(models.values()))


def _capabilities(host: FoundHost, name: str, reported: frozenset[str] | None) -> frozenset[str]:
    """Ollama's /api/show says all; an OpenAI-compatible server at most adds tools and vision (llama.cpp)."""
    if host.api == "ollama":
        return reported or _capabilities_from_name(name)
    return _capabilities_from_name(name) | (reported or frozenset())


def _capabilities_from_name(name: str) -> frozenset[str]:
    """For a server too old to report capabilities: embedding models say so in their names."""
    return frozenset({"embedding"}) if "embed" in name.lower() else frozenset({"completion"})


def _size(model: FoundModel) -> float:
    return model.billions if model.billions is not None else 0.0


def _largest(models: Sequence[FoundModel]) -> FoundModel:
    return max(models, key=lambda model: (_size(model), model.name))


def _nearest_mid_size(models: Sequence[FoundModel]) -> FoundModel:
    return min(models, key=lambda model: (abs(math.log(max(_size(model), 0.1) / MID_SIZE_B)), model.name))


def guess_tiers(survey: Survey) -> list[Tier]:
    """The coder, embedder and reasoner tiers the installed models suggest (no coder or no reasoner
    with a single chat model; with no embedding model the embedder names one to pull on the first
    Ollama host, and there is none without one)."""
    found = survey.models
    chat = [model for model in found if "completion" in model.capabilities]
    embedders = [model for model in found if "embedding" in model.capabilities and model not in chat]
    if not chat:
        installed = ", ".join(model.name for model in found) or "none"
        raise UserError(f"no chat model installed (installed: {installed}): `ollama pull llama3.1:8b`, or give --host URL of another host")
    tiers: list[Tier] = []
    thinkers = [model for model in chat if "thinking" in model.capabilities]
    reasoner = _largest(thinkers) if thinkers else _largest(chat) if len(chat) > 1 else None
    if reasoner is not None:
        why = "thinking model" if thinkers else "largest chat model"
        tiers.append(_tier("reasoner", reasoner, why))
    rest = [model for model in chat if model is not reasoner]
    if rest:
        coders = [model for model in rest if CODER_NAME.search(model.name)]
        coder = _largest(coders) if coders else _nearest_mid_size(rest)
        tiers.append(_tier("coder", coder, "code model" if coders else "mid-size chat model"))
    ollama_hosts = [host.name for host in survey.hosts if host.api == "ollama"]
    if embedders:
        tiers.append(_tier("embedder", _largest(embedders), "embedding model"))
    elif ollama_hosts:  # one to pull; an OpenAI-compatible server serves what it was started with, so none is named there
        why = f"no embedding model installed: `ollama pull {SUGGESTED_EMBEDDER}`"
        tiers.append(Tier("embedder", SUGGESTED_EMBEDDER, (ollama_hosts[0],), frozenset({"embedding"}), why))
    return sorted(tiers, key=lambda tier: tier.tier)


def _tier(name: str, model: FoundModel, why: str) -> Tier:
    return Tier(name, model.name, model.hosts, model.capabilities, f"{why}, {model.parameter_size or 'size unknown'}")


def render(found: Survey, tiers: Sequence[Tier]) -> str:
    """The configuration file: hosts, the guessed tiers, routes over them; every other setting keeps its default."""
    q = json.dumps  # a JSON string is a YAML string: safe for any model name or URL
    names = {tier.tier for tier in tiers}
    used = {canonical_name(tier.model) for tier in tiers}
    lines = [
        "# Written by `zeta-console init` from the models the hosts serve (/api/tags and /api/show, or /v1/models).",
        "# The tiers are guesses: check them. Settings not written here keep their defaults",
        "# (the shipped config.yaml documents every key). Check: zeta-console check-config PATH",
        "hosts:",
    ]
    for host in found.hosts:
        lines += [f"  - name: {q(host.name)}", f"    url: {q(host.url)}"]
        if host.api != "ollama":
            lines += [f"    api: {host.api}", f"    telemetry: {host.telemetry}    # where its own queue figures come from"]
    by_name = {host.name: host for host in found.hosts}
    lines.append("models:")
    for tier in tiers:
        first = by_name[tier.hosts[0]]
        lines += [
            f"  # {tier.why}",
            f"  - tier: {tier.tier}",
            f"    model: {q(tier.model)}",
            f"    hosts: [{', '.join(q(host) for host in tier.hosts)}]",
            f"    capabilities: [{', '.join(sorted(tier.capabilities))}]",
            f"    slots: {first.slots or 1}    # {first.slots_comment()}",
        ]
    lines.append("routes:")
    for task, wanted in ROUTES.items():
        lines.append(f"  {task.value}: [{', '.join(tier for tier in wanted if tier in names)}]")
    unused = [model.describe() for model in found.models if canonical_name(model.name) not in used]
    if unused:
        lines.append("# Also installed, not in a tier: " + "; ".join(unused))
    return "\n".join(lines) + "\n"


def refuse_overwrite(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise UserError(f"{path} exists: not overwriting it (use --force, or give another PATH)")


def write_config(path: Path, text: str, force: bool) -> None:
    """Write `text` to `path` after checking it as `check-config` does; never replace a file without `force`."""
    refuse_overwrite(path, force)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, delete=False, suffix=".yaml") as handle:
        handle.write(text)
    try:
        load_settings(handle.name, overrides=False)  # a ConfigError here is a bug in render()
        os.replace(handle.name, path)
    finally:
        Path(handle.name).unlink(missing_ok=True)


def default_path() -> Path:
    """Where the console looks for its configuration when no --config is given."""
    return config_dir() / CONFIG_FILE


async def propose(urls: Sequence[str]) -> tuple[str, list[Tier]]:
    """The configuration text for the hosts at `urls`, and the tiers it sets."""
    found = await survey(urls)
    tiers = guess_tiers(found)
    return render(found, tiers), tiers


def run_init_command(args: argparse.Namespace) -> int:
    path = Path(args.path) if args.path else default_path()
    refuse_overwrite(path, args.force)  # before asking any host
    urls = [ollama_url(url) for url in args.host] if args.host else [default_ollama_url()]
    text, _ = asyncio.run(propose(urls))
    sys.stdout.write(text)
    sys.stdout.flush()
    write_config(path, text, args.force)
    print(f"zeta-console: wrote {path}; start the console with it: zeta-console --config {path}", file=sys.stderr)
    return 0
