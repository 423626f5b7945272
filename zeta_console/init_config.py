"""`zeta-console init`: write a configuration from the models the hosts actually serve.

Each host's /api/tags says what it has pulled and /api/show what each model can do. Tiers are
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
from urllib.parse import urlsplit

from zeta_console.backends.ollama import OllamaBackend
from zeta_console.backends.types import BackendError
from zeta_console.config import CONFIG_FILE, config_dir, load_settings
from zeta_console.errors import UserError
from zeta_console.ollama_api.names import canonical_name
from zeta_console.ollama_api.sizes import parameter_count
from zeta_console.router.health import is_local
from zeta_console.settings import CAPABILITIES, HostConfig, Settings, Task, default_ollama_url, ollama_url

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
class Survey:
    hosts: tuple[tuple[str, str], ...]  # (name, url)
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


async def survey(urls: Sequence[str], settings: Settings | None = None) -> Survey:
    """Every model on every host, with what /api/show says it can do. UserError when a host cannot be read."""
    timeouts = (settings or Settings()).timeouts
    names = host_names(urls)
    models: dict[str, FoundModel] = {}  # canonical name -> the model, with every host that has it
    for name, url in zip(names, urls, strict=True):
        backend = OllamaBackend(HostConfig(name, url), timeouts)
        try:
            for model in await backend.installed():
                key = canonical_name(model.name)
                if key in models:
                    models[key] = replace(models[key], hosts=(*models[key].hosts, name))
                    continue
                facts = await backend.show(model.name)
                size = facts.parameter_size or model.parameter_size
                capabilities = facts.capabilities or _capabilities_from_name(model.name)
                models[key] = FoundModel(model.name, (name,), capabilities & CAPABILITIES, size, billions(size, facts.parameter_count))
        except BackendError as error:
            advice = "start `ollama serve` or give --host URL"
            raise UserError(f"cannot read the models of Ollama at {url} ({error.message}): {advice}") from None
        finally:
            await backend.aclose()
    return Survey(tuple(zip(names, urls, strict=True)), tuple(models.values()))


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
    with a single chat model; with no embedding model the embedder names one to pull)."""
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
    if embedders:
        tiers.append(_tier("embedder", _largest(embedders), "embedding model"))
    else:
        first_host = survey.hosts[0][0]
        why = f"no embedding model installed: `ollama pull {SUGGESTED_EMBEDDER}`"
        tiers.append(Tier("embedder", SUGGESTED_EMBEDDER, (first_host,), frozenset({"embedding"}), why))
    return sorted(tiers, key=lambda tier: tier.tier)


def _tier(name: str, model: FoundModel, why: str) -> Tier:
    return Tier(name, model.name, model.hosts, model.capabilities, f"{why}, {model.parameter_size or 'size unknown'}")


def render(found: Survey, tiers: Sequence[Tier]) -> str:
    """The configuration file: hosts, the guessed tiers, routes over them; every other setting keeps its default."""
    q = json.dumps  # a JSON string is a YAML string: safe for any model name or URL
    names = {tier.tier for tier in tiers}
    used = {canonical_name(tier.model) for tier in tiers}
    lines = [
        "# Written by `zeta-console init` from the models the hosts serve (/api/tags, /api/show).",
        "# The tiers are guesses: check them. Settings not written here keep their defaults",
        "# (the shipped config.yaml documents every key). Check: zeta-console check-config PATH",
        "hosts:",
    ]
    for name, url in found.hosts:
        lines += [f"  - name: {q(name)}", f"    url: {q(url)}"]
    lines.append("models:")
    for tier in tiers:
        lines += [
            f"  # {tier.why}",
            f"  - tier: {tier.tier}",
            f"    model: {q(tier.model)}",
            f"    hosts: [{', '.join(q(host) for host in tier.hosts)}]",
            f"    capabilities: [{', '.join(sorted(tier.capabilities))}]",
            "    slots: 1    # raise to the server's OLLAMA_NUM_PARALLEL",
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
