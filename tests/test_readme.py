"""README.md's configuration examples are configurations the console accepts."""

from __future__ import annotations

import re
from pathlib import Path

from zeta_console.config import load_settings

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_other_servers_example_is_a_valid_configuration(tmp_path: Path) -> None:
    section = README.read_text().split("## Other servers", 1)[1]
    example = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert example is not None
    path = tmp_path / "config.yaml"
    path.write_text(example.group(1))
    settings = load_settings(str(path))
    assert {host.name: (host.api, host.telemetry.value) for host in settings.hosts} == {
        "llama": ("openai", "llamacpp"),
        "vllm": ("openai", "vllm"),
        "lmstudio": ("openai", "none"),
        "ollama-v1": ("openai", "none"),
    }
    assert settings.host("vllm").api_key_env == "VLLM_API_KEY"
