"""Configuration: the shipped file equals the built-ins, bad files fail with one exact line."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from zeta_console.cli import main
from zeta_console.config import ConfigError, clear_overrides, load_settings, overrides_path, save_overrides
from zeta_console.number_rules import parse_duration
from zeta_console.settings import PolicyName, Settings, Task, Telemetry, Thresholds

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.usefixtures("isolated_xdg")

TWO_TIERS = """\
models:
  - tier: chat
    model: m
    hosts: [local]
    capabilities: [completion]
  - tier: embed
    model: e
    hosts: [local]
    capabilities: [embedding]
"""
TWO_ROUTES = "routes: {simple: [chat], code: [chat], complex_reasoning: [chat], embedding: [embed]}\n"

BAD_CONFIGS = [
    ("thresholds:\n  queue: lots\n", 'bad.yaml:2: thresholds.queue: expected a positive integer, got "lots"'),
    ("thresholds:\n  queue: -3\n", "bad.yaml:2: thresholds.queue: expected a positive integer, got -3"),
    ("thresholds:\n  qeue: 3\n", 'bad.yaml:2: thresholds.qeue: unknown key "qeue"; did you mean "queue"?'),
    ("thresholds:\n  queue: 3\n  queue: 4\n", "bad.yaml:3: thresholds.queue: duplicate key"),
    ("thresholds: [1]\n", "bad.yaml:1: thresholds: expected a mapping, got a list"),
    ("thresholds:\n  error_rate: 1.5\n", "bad.yaml:2: thresholds.error_rate: expected a number between 0 and 1, got 1.5"),
    (
        "timeouts:\n  idle_s: 2 parsecs\n",
        'bad.yaml:2: timeouts.idle_s: expected a positive duration (seconds, or e.g. "500ms", "2s", "5m"), got "2 parsecs"',
    ),
    ("retry:\n  max_attempts: 2.5\n", "bad.yaml:2: retry.max_attempts: expected a positive integer, got 2.5"),
    ("hedging:\n  ratio: 1.5\n", "bad.yaml:2: hedging.ratio: expected a number between 0 and 1, got 1.5"),
    ("hedging:\n  burst: 0\n", "bad.yaml:2: hedging.burst: expected a positive integer, got 0"),
    (
        "hedging:\n  delay_s: -1\n",
        'bad.yaml:2: hedging.delay_s: expected a duration >= 0 (seconds, or e.g. "500ms", "2s", "5m"), got -1',
    ),
    ("hedging:\n  enabled: sometimes\n", 'bad.yaml:2: hedging.enabled: expected true or false, got "sometimes"'),
    ("hedging:\n  percentile: 1\n", "bad.yaml:2: hedging.percentile: expected at most 0.999, got 1"),
    ("hedging:\n  percentile: 0.2\n", "bad.yaml:2: hedging.percentile: expected a number >= 0.5, got 0.2"),
    ("journal:\n  store_prompts: maybe\n", 'bad.yaml:2: journal.store_prompts: expected true or false, got "maybe"'),
    ("journal:\n  path: ''\n", 'bad.yaml:2: journal.path: expected a non-empty string, got ""'),
    ("\n\npolicy: fastest\n", 'bad.yaml:3: policy: unknown policy "fastest" (expected one of: static, threshold, least_load, adaptive)'),
    ("routes:\n  code: [coder, gpu]\n", 'bad.yaml:2: routes.code[1]: unknown tier "gpu" (expected one of: coder, embedder, reasoner)'),
    (
        "routes:\n  chat: [coder]\n",
        'bad.yaml:2: routes.chat: unknown task "chat" (expected one of: simple, code, complex_reasoning, embedding)',
    ),
    ("hosts: []\n", "bad.yaml:1: hosts: expected at least one item"),
    (
        "routes:\n  embedding: [coder]\n",
        'bad.yaml:2: routes.embedding[0]: tier "coder" cannot serve embedding (it lacks the "embedding" capability)',
    ),
    (
        TWO_TIERS.replace("hosts: [local]", "hosts: [gpu1]", 1) + TWO_ROUTES,
        'bad.yaml:4: models[0].hosts[0]: unknown host "gpu1" (expected one of: local)',
    ),
    (
        TWO_TIERS.replace("[completion]", "[completion, chat]") + TWO_ROUTES,
        'bad.yaml:5: models[0].capabilities[1]: unknown capability "chat"'
        " (expected one of: completion, embedding, insert, thinking, tools, vision)",
    ),
    (
        TWO_TIERS.replace("tier: embed", "tier: chat") + TWO_ROUTES,
        'bad.yaml:6: models[1].tier: duplicate tier "chat"\nbad.yaml:10: routes.embedding[0]: unknown tier "embed" (expected one of: chat)',
    ),
    (TWO_TIERS.replace("    model: m\n", ""), 'bad.yaml:2: models[0]: missing key "model"'),
    (
        TWO_TIERS,
        'bad.yaml: routes.simple[0]: unknown tier "coder" (expected one of: chat, embed);'
        " this is the built-in default, set routes.simple in the file\n"
        'bad.yaml: routes.code[0]: unknown tier "coder" (expected one of: chat, embed);'
        " this is the built-in default, set routes.code in the file\n"
        'bad.yaml: routes.complex_reasoning[0]: unknown tier "reasoner" (expected one of: chat, embed);'
        " this is the built-in default, set routes.complex_reasoning in the file\n"
        'bad.yaml: routes.embedding[0]: unknown tier "embedder"; did you mean "embed"?;'
        " this is the built-in default, set routes.embedding in the file",
    ),
    ("models:\n  codr:\n    slots: 2\n", 'bad.yaml:2: models.codr: unknown tier "codr"; did you mean "coder"?'),
    ("models:\n  coder:\n    hosts: [gpu]\n", 'bad.yaml:3: models[0].hosts[0]: unknown host "gpu" (expected one of: local)'),
    ("hosts:\n  - name: local\n  - name: local\n", 'bad.yaml:3: hosts[1].name: duplicate host "local"'),
    (
        "hosts:\n  - name: local\n    url: ftp://x\n",
        'bad.yaml:3: hosts[0].url: expected an http(s) URL such as "http://127.0.0.1:11434", got "ftp://x"',
    ),
    ("hosts:\n  - name: local\n    api: grpc\n", 'bad.yaml:3: hosts[0].api: unknown api "grpc" (expected one of: ollama, openai)'),
    ("serve:\n  listen: nowhere\n", 'bad.yaml:2: serve.listen: expected host:port such as "127.0.0.1:11435", got "nowhere"'),
    ("adaptive:\n  min_weight: 3\n", "bad.yaml:2: adaptive.max_weight: must be at least adaptive.min_weight (3)"),
    (
        "source: x\n",
        'bad.yaml:1: source: unknown key "source" (expected one of: hosts, models, routes, thresholds, policy,'
        " timeouts, retry, hedging, admission, breaker, adaptive, affinity, classifier, journal, ui, load_generator, serve)",
    ),
    ("- 1\n", "bad.yaml:1: expected a mapping of settings at the top level, got a list"),
    ("policy: [static\n", "bad.yaml:2: expected ',' or ']', but got '<stream end>' (while parsing a flow sequence)"),
    ("key: value\n  bad: indent\n", "bad.yaml:2: mapping values are not allowed here"),
    (
        "policy: !!python/object:os.system a\n",
        "bad.yaml:1: could not determine a constructor for the tag 'tag:yaml.org,2002:python/object:os.system'",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD_CONFIGS)
def test_bad_config_fails_with_one_exact_line(text: str, message: str) -> None:
    Path("bad.yaml").write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings("bad.yaml", overrides=False)
    assert str(caught.value) == message
    assert caught.value.exit_code == 2


def test_shipped_config_equals_the_built_in_defaults() -> None:
    loaded = load_settings(ROOT / "config.yaml", overrides=False)
    assert dataclasses.replace(loaded, source=Settings().source) == Settings()
    assert loaded.source == str(ROOT / "config.yaml")


def test_default_host_follows_ollama_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "0.0.0.0:9999")
    assert load_settings(ROOT / "config.yaml", overrides=False).hosts[0].url == "http://0.0.0.0:9999"


def test_search_order_is_cwd_then_xdg_then_built_ins(isolated_xdg: Path) -> None:
    assert load_settings().source == Settings().source
    xdg_file = isolated_xdg / "config-home" / "zeta-console" / "config.yaml"
    xdg_file.parent.mkdir(parents=True)
    xdg_file.write_text("policy: static\n")
    assert load_settings().policy == PolicyName("static")
    Path("config.yaml").write_text("policy: least_load\n")
    assert load_settings().policy == PolicyName("least_load")
    assert load_settings(xdg_file).source == str(xdg_file)


def test_sections_merge_and_durations_parse() -> None:
    Path("c.yaml").write_text(
        "thresholds:\n  ttft_s: 500ms\n"
        "timeouts:\n  total_s: 5m\n"
        "models:\n  - tier: coder\n    model: c\n    hosts: [local]\n    capabilities: [completion]\n    thresholds: {queue: 9}\n"
        "  - tier: embedder\n    model: e\n    hosts: [local]\n    capabilities: [embedding]\n"
        "  - tier: reasoner\n    model: r\n    hosts: [local]\n    capabilities: [completion, thinking]\n    slots: 2\n"
    )
    settings = load_settings("c.yaml", overrides=False)
    assert settings.thresholds == Thresholds(ttft_s=0.5)
    assert settings.timeouts.total_s == 300.0 and settings.timeouts.idle_s == 30.0
    assert settings.thresholds_for("coder") == Thresholds(ttft_s=0.5, queue=9)  # merged over the global thresholds
    assert settings.thresholds_for("reasoner") == Thresholds(ttft_s=0.5)
    assert settings.model("reasoner").slots == 2
    assert settings.routes[Task.CODE] == ("coder", "reasoner")


@pytest.mark.parametrize(("text", "seconds"), [("500ms", 0.5), ("2s", 2.0), ("1.5m", 90.0), ("1h", 3600.0), ("2", None), ("soon", None)])
def test_parse_duration(text: str, seconds: float | None) -> None:
    assert parse_duration(text) == seconds


def test_overrides_layer_over_the_config_and_can_be_cleared(isolated_xdg: Path) -> None:
    Path("config.yaml").write_text("policy: static\nthresholds:\n  queue: 7\n")
    path = save_overrides({"policy": PolicyName("least_load"), "thresholds.ttft_s": 1.5, "adaptive.tier_tolerance": 3.0})
    assert path == overrides_path() == isolated_xdg / "config-home" / "zeta-console" / "overrides.yaml"
    layered = load_settings()
    assert layered.policy == PolicyName("least_load")
    assert layered.thresholds == Thresholds(ttft_s=1.5, queue=7)
    assert layered.adaptive.tier_tolerance == 3.0  # as the Controls screen saves it
    assert load_settings(overrides=False).policy == PolicyName("static")

    save_overrides({"policy": None})  # None removes one override
    assert load_settings().policy == PolicyName("static")
    assert load_settings().thresholds.ttft_s == 1.5

    clear_overrides()
    assert not path.exists()
    assert load_settings().thresholds == Thresholds(queue=7)


def test_save_overrides_accepts_settings_values_and_rejects_bad_ones() -> None:
    slower = dataclasses.replace(Settings().models[2], thresholds=Thresholds(ttft_s=9.0))
    save_overrides({"models": (*Settings().models[:2], slower)})
    assert load_settings().thresholds_for("reasoner").ttft_s == 9.0
    with pytest.raises(ConfigError, match=r"overrides\.yaml:\d+: thresholds\.queue: expected a positive integer"):
        save_overrides({"thresholds.queue": -1})
    assert load_settings().thresholds.queue == 4  # nothing written


def test_models_by_tier_change_those_models_and_keep_the_rest() -> None:
    Path("config.yaml").write_text("thresholds:\n  queue: 7\nmodels:\n  reasoner:\n    slots: 3\n")
    save_overrides({"models.coder.thresholds.ttft_s": 2.5, "models.reasoner.thresholds.queue": 2})
    settings = load_settings()
    assert [model.tier for model in settings.models] == [model.tier for model in Settings().models]
    assert settings.thresholds_for("coder") == Thresholds(ttft_s=2.5, queue=7)  # over the global thresholds
    assert settings.thresholds_for("reasoner") == Thresholds(queue=2) and settings.model("reasoner").slots == 3
    assert settings.thresholds_for("embedder") == settings.thresholds == Thresholds(queue=7)
    assert dataclasses.replace(settings.model("coder"), thresholds=None) == Settings().model("coder")


def test_a_broken_overrides_file_names_that_file() -> None:
    overrides_path().parent.mkdir(parents=True)
    overrides_path().write_text("policy: fastest\n")
    with pytest.raises(ConfigError, match=r"overrides\.yaml:1: policy: unknown policy"):
        load_settings()


def test_check_config_prints_a_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(ROOT / "config.yaml")]) == 0
    assert capsys.readouterr().out == f"ok: {ROOT / 'config.yaml'} (1 host, 3 models, policy adaptive)\n"
    assert main(["check-config"]) == 0
    assert capsys.readouterr().out == "ok: <built-in defaults> (1 host, 3 models, policy adaptive)\n"


def test_check_config_reports_a_missing_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "nope.yaml"]) == 2
    assert capsys.readouterr().err == "zeta-console: nope.yaml: no such file\n"


def test_check_config_subprocess_prints_one_line_and_exits_2(isolated_xdg: Path) -> None:
    Path("bad.yaml").write_text("policy: adaptive\nthresholds:\n  queue: lots\n")
    script = Path(sys.executable).parent / "zeta-console"  # the installed entry point
    result = subprocess.run([str(script), "check-config", "bad.yaml"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == 'zeta-console: bad.yaml:3: thresholds.queue: expected a positive integer, got "lots"\n'
    assert "Traceback" not in result.stderr


def test_the_theme_names_config_accepts_are_the_themes_the_console_loads() -> None:
    from zeta_console.config import shipped_theme_names
    from zeta_console.ui.themes import load_builtin_themes

    themes, problems = load_builtin_themes()
    assert not problems
    assert shipped_theme_names() == tuple(sorted(theme.name for theme in themes))


def test_check_config_prints_every_mistake_on_its_own_line(capsys: pytest.CaptureFixture[str]) -> None:
    Path("bad.yaml").write_text("thresholds:\n  queue: 0\n  ttft_s: soon\nserve:\n  listen: 127.0.0.1:99999\n")
    assert main(["check-config", "bad.yaml"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "zeta-console: bad.yaml:2: thresholds.queue: expected a positive integer, got 0",
        'zeta-console: bad.yaml:3: thresholds.ttft_s: expected a positive duration (seconds, or e.g. "500ms", "2s", "5m"), got "soon"',
        "zeta-console: bad.yaml:5: serve.listen: port 99999 is out of range (expected 1 to 65535)",
    ]


def test_a_chat_only_fleet_is_a_valid_configuration() -> None:
    Path("chat.yaml").write_text(TWO_TIERS.replace("  - tier: embed\n    model: e\n    hosts: [local]\n    capabilities: [embedding]\n", "")
                                 + "routes: {simple: [chat], code: [chat], complex_reasoning: [chat], embedding: []}\n")
    settings = load_settings("chat.yaml", overrides=False)
    assert settings.routes[Task.EMBEDDING] == () and [model.tier for model in settings.models] == ["chat"]


def test_an_openai_host_takes_a_key_variable_and_a_telemetry_source() -> None:
    Path("openai.yaml").write_text(
        "hosts:\n  - name: local\n  - name: gpu\n    url: http://10.0.0.5:8080\n    api: openai\n"
        "    api_key_env: LLAMA_API_KEY\n    telemetry: llamacpp\n"
    )
    local, gpu = load_settings("openai.yaml", overrides=False).hosts
    assert (local.api, local.api_key_env, local.telemetry) == ("ollama", None, Telemetry.AUTO)
    assert (gpu.api, gpu.api_key_env, gpu.telemetry) == ("openai", "LLAMA_API_KEY", Telemetry.LLAMACPP)


def test_a_key_written_as_api_key_env_is_refused_without_being_echoed(capsys: pytest.CaptureFixture[str]) -> None:
    Path("leak.yaml").write_text("hosts:\n  - name: local\n    api: openai\n    api_key_env: sk-proj-4f9a8b7c6d5e\n")
    assert main(["check-config", "leak.yaml"]) == 2
    error = capsys.readouterr().err
    assert "leak.yaml:4: hosts[0].api_key_env: expected the name of an environment variable" in error
    assert "4f9a8b7c6d5e" not in error


def test_the_readmes_example_of_other_servers_is_a_valid_configuration() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    Path("other.yaml").write_text(readme.split("## Other servers")[1].split("```yaml\n")[1].split("```")[0])
    settings = load_settings("other.yaml", overrides=False)
    assert {host.name: host.api for host in settings.hosts} == {
        "local": "ollama", "llama": "openai", "gpu": "openai", "sglang": "openai", "studio": "openai", "ollama-v1": "openai",
    }
    assert settings.host("gpu").api_key_env == "VLLM_API_KEY" and settings.host("sglang").telemetry is Telemetry.SGLANG
