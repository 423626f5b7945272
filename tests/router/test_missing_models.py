"""A configured model its host has not pulled is MISSING, says what the host has, and is never
sent a request; a request that fails on several endpoints names each and why."""

from __future__ import annotations

import pytest

from tests.router.routing import ask, other_models_spec, routed
from zeta_console.router.api import EndpointStatus, Outcome
from zeta_console.router.errors import AttemptsFailed, RejectedError
from zeta_console.settings import DEFAULT_MODELS, ModelConfig, Task
from zeta_console.sim import Fault

HAS = "it has llama3.1:8b, nomic-embed-text:latest, deepseek-r1:14b"


async def test_the_default_models_on_a_host_with_other_models_are_missing() -> None:
    async with routed(other_models_spec()) as run:
        snapshot = run.router.snapshot()
        assert {endpoint.id: endpoint.status for endpoint in snapshot.endpoints} == {
            "coder@local": EndpointStatus.MISSING,
            "embedder@local": EndpointStatus.MISSING,
            "reasoner@local": EndpointStatus.MISSING,
        }
        reasoner = next(endpoint for endpoint in snapshot.endpoints if endpoint.id == "reasoner@local")
        assert (
            reasoner.status_reason == f"not installed on local ({HAS}): `ollama pull qwen3:14b`, edit the config or run `zeta-console init`"
        )
        assert snapshot.installed == {"local": ("llama3.1:8b", "nomic-embed-text:latest", "deepseek-r1:14b")}

        with pytest.raises(RejectedError) as rejected:
            async with run.router.chat(ask("hello there")) as stream:
                async for _ in stream:
                    pass
        assert "coder@local missing: not installed on local" in rejected.value.message
        assert "`ollama pull qwen2.5-coder:7b`" in rejected.value.message
        assert all(endpoint.errors == 0 for endpoint in run.router.snapshot().endpoints)  # nothing was sent, so nothing failed


async def test_a_missing_model_is_never_sent_a_request() -> None:
    models = (
        ModelConfig("coder", "llama3.1:8b", ("local",), frozenset({"completion", "tools"})),
        ModelConfig("embedder", "nomic-embed-text", ("local",), frozenset({"embedding"})),  # the host reports it as :latest
        DEFAULT_MODELS[2],  # reasoner qwen3:14b: not on this host
    )
    async with routed(other_models_spec(), models=models) as run:
        statuses = {endpoint.id: endpoint.status for endpoint in run.router.snapshot().endpoints}
        assert statuses == {"coder@local": EndpointStatus.UP, "embedder@local": EndpointStatus.UP, "reasoner@local": EndpointStatus.MISSING}
        async with run.router.chat(ask("prove that there are infinitely many primes", Task.COMPLEX_REASONING)) as stream:
            async for _ in stream:
                pass
        record = stream.record
        assert record is not None and record.outcome is Outcome.OK
        assert record.endpoint == "coder@local"
        assert record.decision.fallbacks == ()  # the reasoner, first on this route, was never tried
        reasoner = next(c for c in record.decision.candidates if c.endpoint == "reasoner@local")
        assert reasoner.excluded is not None and reasoner.excluded.startswith(f"missing: not installed on local ({HAS})")
        assert next(e for e in run.router.snapshot().endpoints if e.id == "reasoner@local").errors == 0


async def test_a_request_that_fails_everywhere_names_every_endpoint_and_why() -> None:
    async with routed() as run:
        host = run.fleet.host("local")
        host.set_fault("qwen2.5-coder:7b", Fault(error_rate=1.0))
        host.set_fault("qwen3:14b", Fault(slow_factor=1.0, busy_burst=5))
        with pytest.raises(AttemptsFailed) as failed:
            async with run.router.chat(ask("hello there", Task.SIMPLE)) as stream:
                async for _ in stream:
                    pass
        error = failed.value
        assert list(error.tried) == ["coder@local", "reasoner@local"]
        assert error.message == (
            f"coder@local: {error.tried['coder@local'].message}; reasoner@local: {error.tried['reasoner@local'].message}"
        )
        assert "model runner has unexpectedly stopped" in error.tried["coder@local"].message
        assert "server busy" in error.tried["reasoner@local"].message
        assert error.status == 503  # kind and status are the last failure's
        assert run.records()[-1].error == error.message  # the journal and the console's log get the whole story
