"""Random fleet states for the policy benches (decision_cost.py, policy_equivalence.py): the default models, a number
of replicas each, every endpoint's figures drawn from a `Spread`, the one thing the two benches draw differently."""

from __future__ import annotations

import random
from dataclasses import dataclass

from zeta_console.router.api import EndpointStatus
from zeta_console.router.candidates import EndpointState
from zeta_console.settings import DEFAULT_MODELS, Thresholds


@dataclass(frozen=True)
class Spread:
    """How endpoint states vary. A share is the chance that a figure is known (else None); a measured endpoint
    (share `measured`) may know its TTFT, latency, prefill and decode figures, an unmeasured one knows none."""

    slots: tuple[int, ...] = (1, 1, 2, 4)
    over_slots: int = 1  # in flight: 0 to slots + this
    queued: tuple[int, ...] = (0, 0, 0, 1, 3, 6)
    queued_only_when_full: bool = False
    status_weights: tuple[float, ...] = (0.75, 0.1, 0.04, 0.03, 0.05, 0.03)  # in EndpointStatus's order
    drained: float = 0.04
    ttft_thresholds_s: tuple[float, ...] = (1.0, 2.0, 0.2)
    measured: float = 0.85
    ttft_ewma: float = 0.9
    ttft_p95: float = 0.8
    latency_p95: float = 0.8
    latency_ewma: float = 0.8
    prefill: float = 0.7
    decode: float = 0.8
    load: float = 0.6
    residency: tuple[bool | None, ...] = (True, True, True, False, None)
    error_rates: tuple[float, ...] = (0.0, 0.0, 0.0, 0.05, 0.3, 0.95)
    fast_failures: tuple[int, ...] = (0, 0, 0, 0, 2)
    sample_age: float = 0.9
    status_reasons: tuple[str, ...] = ("", "not installed on h (it has x)")
    ttft_overhead: float = 0.5
    server_reports: float = 0.3  # the server's own running / waiting / slots


def maybe(rng: random.Random, share: float, low: float, high: float) -> float | None:
    return rng.uniform(low, high) if rng.random() < share else None


def random_endpoint(tier: str, capabilities: frozenset[str], host: str, rng: random.Random, spread: Spread) -> EndpointState:
    slots = rng.choice(spread.slots)
    in_flight = rng.randint(0, slots + spread.over_slots)
    reported = rng.random() < spread.server_reports
    measured = 1.0 if rng.random() < spread.measured else 0.0  # multiplies the measured figures' shares
    full = in_flight >= slots
    return EndpointState(
        id=f"{tier}@{host}",
        tier=tier,
        model=tier,
        host=host,
        capabilities=capabilities,
        slots=slots,
        in_flight=in_flight,
        queued=rng.choice(spread.queued) if full or not spread.queued_only_when_full else 0,
        status=rng.choices(tuple(EndpointStatus), spread.status_weights)[0],
        drained=rng.random() < spread.drained,
        thresholds=Thresholds(ttft_s=rng.choice(spread.ttft_thresholds_s)),
        ttft_ewma_s=maybe(rng, measured * spread.ttft_ewma, 0.05, 3.0),
        ttft_p95_s=maybe(rng, measured * spread.ttft_p95, 0.2, 4.0),
        latency_p95_s=maybe(rng, measured * spread.latency_p95, 1.0, 40.0),
        prefill_s_per_token=maybe(rng, measured * spread.prefill, 0.0002, 0.004),
        decode_tps=maybe(rng, measured * spread.decode, 5.0, 120.0),
        load_s=maybe(rng, spread.load, 1.0, 15.0),
        resident=rng.choice(spread.residency),
        error_rate=rng.choice(spread.error_rates),
        recent_fast_failures=rng.choice(spread.fast_failures),
        last_sample_age_s=maybe(rng, spread.sample_age, 0.0, 40.0),
        latency_ewma_s=maybe(rng, measured * spread.latency_ewma, 0.5, 20.0),
        status_reason=rng.choice(spread.status_reasons),
        ttft_overhead_s=maybe(rng, spread.ttft_overhead, 0.0, 0.3),
        server_running=rng.randint(0, slots) if reported else None,
        server_waiting=rng.randint(0, 3) if reported else None,
        server_slots=rng.choice((None, slots, 2 * slots)) if reported else None,
    )


def random_fleet(replicas: int, rng: random.Random, spread: Spread) -> tuple[EndpointState, ...]:
    """Every default model on `replicas` hosts (h0, h1, ...); the chat tiers also have the `completion` capability."""
    return tuple(
        random_endpoint(model.tier, model.capabilities | ({"completion"} if model.tier != "embedder" else set()), f"h{i}", rng, spread)
        for model in DEFAULT_MODELS
        for i in range(replicas)
    )
