"""A deterministic console for snapshot tests and development: fixed snapshot, decisions, clock.

`python -m tests.ui.frozen` opens it in the terminal (the development harness).
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
from collections.abc import AsyncIterator, Callable
from datetime import UTC
from types import MappingProxyType
from typing import Any

from zeta_console.backends.types import Delta, FinalTimings
from zeta_console.number_rules import threshold_value, tier_tolerance_value
from zeta_console.router.api import (
    ALL_TASKS,
    CandidateScore,
    Classification,
    Decision,
    EndpointSnapshot,
    EndpointStatus,
    EventListener,
    HedgingSnapshot,
    HostResources,
    OperatorAction,
    Outcome,
    Prediction,
    Ranking,
    RequestRecord,
    RouterEvent,
    RouterSnapshot,
)
from zeta_console.router.policies import policy_names
from zeta_console.router.requests import ChatRequest
from zeta_console.settings import PolicyName, Settings, Task, Thresholds
from zeta_console.ui.app import ZetaConsole
from zeta_console.ui.session import ConsoleSession, FaultKind, Serving

T0 = 1_750_000_000.0  # 2025-06-15 15:06:40 UTC
GB = 1024**3


def wave(n: int, base: float, amplitude: float, phase: float) -> tuple[float, ...]:
    return tuple(round(base + amplitude * math.sin(i / 3 + phase), 3) for i in range(n))


def endpoint(tier: str, model: str, status: EndpointStatus, **changes: Any) -> EndpointSnapshot:
    values: dict[str, Any] = {
        "id": f"{tier}@local", "tier": tier, "model": model, "host": "local", "url": "http://127.0.0.1:11434",
        "capabilities": Settings().model(tier).capabilities,
        "status": status, "status_reason": "", "states": (status,), "ejected_for_s": None, "drained": False,
        "slots": 2, "in_flight": 1, "queued": 0,
        "ttft_ewma_s": 0.21, "ttft_p50_s": 0.18, "ttft_p95_s": 0.42, "ttft_p99_s": 0.6,
        "latency_p50_s": 1.9, "latency_p95_s": 3.4, "latency_p99_s": 4.0, "decode_tps": 41.5, "prefill_tps": 900.0,
        "load_s": 2.5, "successes": 120, "errors": 1, "error_rate": 0.008, "errors_by_kind": MappingProxyType({"busy": 1}),
        "resident": True, "size_bytes": int(5.2 * GB), "size_vram_bytes": int(5.2 * GB), "expires_at": T0 + 252,
        "ttft_history": wave(40, 0.3, 0.12, 0.0), "latency_history": wave(40, 2.5, 1.0, 1.0), "tps_history": wave(40, 40, 5, 0),
        "server": "Ollama",
    }  # fmt: skip
    values.update(changes)
    return EndpointSnapshot(**values)


ENDPOINTS = (
    endpoint("coder", "qwen2.5-coder:7b", EndpointStatus.UP),
    endpoint(
        "embedder", "qwen3-embedding:4b", EndpointStatus.UP, slots=4, in_flight=0, ttft_p50_s=0.03,
        ttft_p95_s=0.05, latency_p50_s=0.04, latency_p95_s=0.08, decode_tps=None, successes=300, errors=0,
        error_rate=0.0, size_bytes=int(2.5 * GB), size_vram_bytes=int(2.5 * GB),
        ttft_history=wave(40, 0.04, 0.01, 2.0), latency_history=wave(40, 0.06, 0.02, 2.0),
    ),  # fmt: skip
    endpoint(
        "reasoner", "qwen3:14b", EndpointStatus.EJECTED, status_reason="5 consecutive failures",
        ejected_for_s=12.0, in_flight=0, queued=3, ttft_p50_s=1.4, ttft_p95_s=2.6, latency_p50_s=22.0,
        latency_p95_s=48.0, decode_tps=18.2, successes=40, errors=9, error_rate=0.31, expires_at=T0 + 61,
        ttft_history=wave(40, 1.8, 0.8, 0.5), latency_history=wave(40, 30, 12, 0.5),
    ),  # fmt: skip
)

SNAPSHOT = RouterSnapshot(
    taken_at=T0 - 0.2,
    policy=PolicyName("adaptive"),
    policies=policy_names(),
    pins=MappingProxyType({Task.CODE.value: "coder"}),
    thresholds=Thresholds(ttft_s=1.0),
    endpoints=ENDPOINTS,
    requests_per_s=7.4,
    error_rate=0.021,
    total_requests=461,
    hosts=MappingProxyType({"local": HostResources(cpu_percent=37.0, memory_percent=61.0)}),
    differs_from_config=frozenset({"thresholds.ttft_s", "pins.code"}),
    hedging=HedgingSnapshot(enabled=True, sent=9, won=6, cancelled=9, denied=1, budget=2.4, ratio=0.05),
)


def candidates(chosen: str) -> tuple[CandidateScore, ...]:
    return (
        CandidateScore("coder@local", "coder", "qwen2.5-coder:7b", "local", 0.62, {"wait_s": 0.2, "prefill_s": 0.12, "decode_s": 0.3}),
        CandidateScore(
            "reasoner@local", "reasoner", "qwen3:14b", "local", 9.9, {"wait_s": 4.0, "prefill_s": 0.9, "decode_s": 5.0},
            excluded="ejected (12s left)" if chosen != "reasoner@local" else None,
        ),
        CandidateScore("embedder@local", "embedder", "qwen3-embedding:4b", "local", math.inf, {}, excluded="incapable: no completion"),
    )  # fmt: skip


TASKS = (
    (Task.CODE, 0.92, "code keywords: def, traceback", "prompt"),
    (Task.SIMPLE, 0.71, "short question", "loadgen"),
    (Task.COMPLEX_REASONING, 0.66, "step by step, prove", "loadgen"),
    (Task.SIMPLE, 0.88, "greeting", "serve:127.0.0.1"),
)


def events() -> list[RouterEvent]:
    result: list[RouterEvent] = []
    for index in range(24):
        task, confidence, why, client = TASKS[index % len(TASKS)]
        at = T0 - 60 + index * 2.5
        chosen = "coder@local"
        reason = (
            "reasoner ejected (5 consecutive failures); fell back to coder"
            if task is Task.COMPLEX_REASONING
            else "pin code→coder" if task is Task.CODE else "lowest predicted latency 0.62s"
        )  # fmt: skip
        decision = Decision(
            request_id=f"r{index:04d}", at=at, classification=Classification(task, confidence, why, "rules"),
            policy=PolicyName("adaptive"), candidates=candidates(chosen), chosen=chosen, reason=reason,
            pins=MappingProxyType({"code": "coder"}), fallbacks=("reasoner@local",) if index == 6 else (), client=client,
            prediction=Prediction(
                ttft_s=0.18 + (index % 5) * 0.06, completion_s=1.1 + (index % 7) * 0.45, output_tokens=130.0,
                ranked_by=Ranking.READER if client == "prompt" else Ranking.COMPLETION, waited_s=1.5 if index == 23 else 0.0,
            ),
        )  # fmt: skip
        result.append(decision)
        if index < 22:
            outcome = Outcome.ERROR if index == 9 else Outcome.OK
            result.append(
                RequestRecord(
                    request_id=decision.request_id, decision=decision, endpoint=chosen, model="qwen2.5-coder:7b",
                    started_at=at, ttft_s=0.15 + (index % 5) * 0.07, total_s=1.2 + (index % 7) * 0.4,
                    prompt_tokens=40 + index, output_tokens=120 + index * 3, outcome=outcome,
                    error="backend closed the stream" if outcome is Outcome.ERROR else None,
                )  # fmt: skip
            )
        if index == 12:
            result.append(OperatorAction(at + 1, "set_threshold", "thresholds.ttft_s", "2.0", "1.0", "console"))
    return result


class FrozenRouter:
    """Answers the console's reads with fixed data; controls change only the snapshot."""

    def __init__(self) -> None:
        self.state = SNAPSHOT
        self.actions: list[OperatorAction] = []
        self.tier_thresholds: dict[str, Thresholds] = {}
        # Set by a test to photograph an answer mid-stream: answers stop after their first words
        # until it is set; `streaming` is set once they have stopped there.
        self.resume: asyncio.Event | None = None
        self.streaming = asyncio.Event()

    @property
    def controls(self) -> FrozenRouter:
        """The operator controls are the frozen router's own methods."""
        return self

    def snapshot(self) -> RouterSnapshot:
        return self.state

    def subscribe(self, listener: EventListener) -> Callable[[], None]:
        for event in events():
            listener(event)
        return lambda: None

    def _act(self, action: str, target: str, old: str, new: str, **changes: Any) -> OperatorAction:
        self.state = dataclasses.replace(self.state, **changes)
        done = OperatorAction(T0, action, target, old, new, "console")
        self.actions.append(done)
        return done

    def set_policy(self, policy: PolicyName | str, source: str = "operator") -> OperatorAction:
        if policy not in self.state.policies:
            raise ValueError(f"unknown policy {policy!r}")
        return self._act("set_policy", "policy", self.state.policy, policy, policy=PolicyName(policy))

    def set_threshold(self, name: str, value: Any, tier: str | None = None, source: str = "operator") -> OperatorAction:
        value = threshold_value(name, value)
        if tier is not None:
            old = getattr(self.thresholds_for(tier), name)
            self.tier_thresholds[tier] = dataclasses.replace(self.thresholds_for(tier), **{name: value})
            return self._act("set_threshold", f"{tier}.thresholds.{name}", str(old), str(value))
        old = getattr(self.state.thresholds, name)
        thresholds = dataclasses.replace(self.state.thresholds, **{name: value})
        return self._act("set_threshold", f"thresholds.{name}", str(old), str(value), thresholds=thresholds)

    def thresholds_for(self, tier: str) -> Thresholds:
        return self.tier_thresholds.get(tier, self.state.thresholds)

    def pin(self, tier: str, task: Task | str = ALL_TASKS, source: str = "operator") -> OperatorAction:
        pins = {**self.state.pins, str(task): tier}
        return self._act("pin", str(task), self.state.pins.get(str(task), ""), tier, pins=pins)

    def unpin(self, task: Task | str = ALL_TASKS, source: str = "operator") -> OperatorAction:
        pins = {key: value for key, value in self.state.pins.items() if key != str(task)}
        return self._act("unpin", str(task), self.state.pins.get(str(task), ""), "", pins=pins)

    def _endpoint(self, action: str, endpoint_id: str, drained: bool | None = None, ejected: bool | None = None) -> OperatorAction:
        def changed(item: EndpointSnapshot) -> EndpointSnapshot:
            now_drained = item.drained if drained is None else drained
            now_ejected = EndpointStatus.EJECTED in item.states if ejected is None else ejected
            flags = ((EndpointStatus.DRAINED, now_drained), (EndpointStatus.EJECTED, now_ejected))
            states = tuple(state for state, on in flags if on) or (EndpointStatus.UP,)
            ejected_for_s = (item.ejected_for_s or 30.0) if now_ejected else None
            return dataclasses.replace(item, drained=now_drained, states=states, status=states[0], ejected_for_s=ejected_for_s)

        endpoints = tuple(changed(item) if item.id == endpoint_id else item for item in self.state.endpoints)
        return self._act(action, endpoint_id, "", action, endpoints=endpoints)

    def drain(self, endpoint: str, source: str = "operator") -> OperatorAction:
        return self._endpoint("drain", endpoint, drained=True)

    def undrain(self, endpoint: str, source: str = "operator") -> OperatorAction:
        return self._endpoint("undrain", endpoint, drained=False)

    def eject(self, endpoint: str, source: str = "operator") -> OperatorAction:
        return self._endpoint("eject", endpoint, ejected=True)

    def restore(self, endpoint: str, source: str = "operator") -> OperatorAction:
        return self._endpoint("restore", endpoint, ejected=False)

    def set_hedging(self, enabled: bool, source: str = "operator") -> OperatorAction:
        assert self.state.hedging is not None
        old, new = ("on" if flag else "off" for flag in (self.state.hedging.enabled, enabled))
        return self._act("set_hedging", "hedging", old, new, hedging=dataclasses.replace(self.state.hedging, enabled=enabled))

    def set_tier_tolerance(self, value: Any, source: str = "operator") -> OperatorAction:
        number = tier_tolerance_value(value)
        old = str(self.state.tier_tolerance)
        return self._act("set_tier_tolerance", "adaptive.tier_tolerance", old, str(number), tier_tolerance=number)

    def revert_to_config(self, source: str = "operator") -> tuple[OperatorAction, ...]:
        self.state = SNAPSHOT
        self.tier_thresholds.clear()
        return ()

    def chat(self, request: ChatRequest) -> ScriptedAnswer:
        return ScriptedAnswer(request, self)

    async def embed(self, request: Any) -> Any:
        raise RuntimeError("the frozen console does not embed")


class ScriptedAnswer:
    """A routed stream's shape with a canned answer: the frozen console answers every prompt alike."""

    def __init__(self, request: ChatRequest, router: FrozenRouter) -> None:
        self.request = request
        self.router = router
        self.decision: Decision | None = None

    def __aiter__(self) -> AsyncIterator[Delta]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[Delta]:
        self.decision = Decision(
            request_id="r9000", at=T0, classification=Classification(Task.CODE, 0.92, "code keywords: def", "rules"),
            policy=PolicyName("adaptive"), candidates=candidates("coder@local"), chosen="coder@local",
            reason="pin code→coder; lowest predicted latency 0.62s of the coder tier", client="prompt",
        )  # fmt: skip
        context = len(self.request.messages) - 1
        yield Delta(thinking="The user wants code.")
        if self.router.resume is not None:
            yield Delta(content="[frozen] An answer still")
            self.router.streaming.set()
            await self.router.resume.wait()
        answer = f"[frozen] An answer with {context} earlier messages of context."
        yield Delta(content=answer, final=FinalTimings(None, None, None, None, None, None, "stop"))

    async def aclose(self) -> None:
        return None


class FrozenFaults:
    def targets(self) -> list[str]:
        return [item.id for item in ENDPOINTS]

    async def inject(self, endpoint_id: str, fault: FaultKind) -> str:
        return f"{fault.value} {endpoint_id}"


def frozen_app(simulated: bool = True, serving: Serving | None = None) -> ZetaConsole:
    session = ConsoleSession(
        router=FrozenRouter(),
        settings=Settings(),
        clock=lambda: T0,
        tz=UTC,
        frozen=True,
        simulated=simulated,
        faults=FrozenFaults() if simulated else None,
        serving=serving,
    )
    return ZetaConsole(session)


if __name__ == "__main__":
    frozen_app().run()
