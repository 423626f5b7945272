"""Hedging before the first token, through the real router against the emulator over HTTP.

A listener stalls whichever endpoint the router chooses for a request (the emulator decides a
request's faults when it arrives, which is after the decision), so each test stalls the primary
attempt whatever the policy prefers, and the hedge goes to the other endpoint."""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field, replace

import pytest

from tests.helpers import wait_until
from tests.router.routing import FAST, Routed, answer, ask, counters_are_zero, routed
from zeta_console.router.api import Decision, OperatorAction, Outcome, RouterEvent
from zeta_console.router.hedging import START_HEDGES, UNCALIBRATED_FACTOR, HedgeBudget, late_after_s
from zeta_console.router.metrics import MIN_PREDICTION_SAMPLES, EndpointMetrics
from zeta_console.router.requests import ChatRequest
from zeta_console.settings import Adaptive, Hedging, PolicyName, Task, Timeouts
from zeta_console.sim import Fault, SimHost

MODELS = {"coder@local": "qwen2.5-coder:7b", "reasoner@local": "qwen3:14b"}
HEDGE_AFTER_S = 2.0  # scenario seconds (0.04 s of wall time at FAST)
STALL_S = 50.0  # 1 s of wall time: far past the hedge delay, within the first-token allowance
PATIENT = Timeouts(first_token_s=300.0)  # 6 s of wall time: a stall is a straggler here, not a timeout
QUESTION = "hello there"


@dataclass
class StallWhereRouted:
    """On each request's first decision, stall the chosen endpoint (with `fault`) and clear the others."""

    host: SimHost
    fault: Fault
    primaries: list[str] = field(default_factory=list)

    def __call__(self, event: RouterEvent) -> None:
        if not isinstance(event, Decision) or event.chosen is None or event.reason.startswith("hedged"):
            return
        self.primaries.append(event.chosen)
        host = self.host
        for endpoint, model in MODELS.items():
            if endpoint == event.chosen:
                host.set_fault(model, Fault(**vars(self.fault)))
            else:
                host.clear_faults(model)


async def warm(run: Routed) -> None:
    """Load both models: a model that may still be loading is never hedged."""
    for tier in ("coder", "reasoner"):
        await answer(run.router, ask(QUESTION, Task.SIMPLE, target=tier))


def hedging(ratio: float = 1.0, burst: int = 5, enabled: bool = True) -> Hedging:
    return Hedging(enabled=enabled, ratio=ratio, burst=burst, delay_s=HEDGE_AFTER_S)


def busy(run: Routed, endpoint: str) -> int:
    """Slots the emulator itself is using or queueing for on `endpoint`'s model (its truth)."""
    model = run.fleet.host("local").state()["models"][MODELS[endpoint]]
    return int(model["busy_slots"]) + int(model["waiting"])


async def test_a_stalled_first_token_is_hedged_the_faster_wins_and_the_loser_is_freed() -> None:
    async with routed(hedging=hedging(), timeouts=PATIENT) as run:
        await warm(run)
        stall = StallWhereRouted(run.fleet.host("local"), Fault(stall_s=STALL_S))
        run.router.subscribe(stall)
        text, record = await answer(run.router, ask(QUESTION, Task.SIMPLE))
        primary = stall.primaries[0]
        winner = next(endpoint for endpoint in MODELS if endpoint != primary)
        assert record.outcome is Outcome.OK and record.endpoint == winner
        assert record.decision.chosen == winner
        assert record.decision.reason.startswith("hedged after ")
        assert f": {winner} won" in record.decision.reason
        # Served long before the stall would have ended.
        assert record.ttft_s is not None and record.ttft_s < STALL_S / FAST / 2
        # One whole answer, the winner's, byte for byte: nothing of the stalled attempt, nothing twice.
        assert text == run.fleet.host("local").chat_answer(MODELS[winner], [QUESTION])
        # The loser was cancelled: the emulator freed its slot (not only the router's bookkeeping).
        await wait_until(lambda: busy(run, primary) == 0, timeout=STALL_S / FAST / 2, message="the loser's slot freed")
        assert counters_are_zero(run.router)
        hedged = run.router.snapshot().hedging
        assert hedged is not None and (hedged.sent, hedged.won, hedged.cancelled, hedged.denied) == (1, 1, 1, 0)


async def test_the_first_first_token_wins_even_when_it_is_the_stalled_one() -> None:
    # The hedge's endpoint is slower still: the primary answers first and the hedge is cancelled.
    async with routed(hedging=hedging(), timeouts=PATIENT) as run:
        await warm(run)
        stall = StallWhereRouted(run.fleet.host("local"), Fault(stall_s=STALL_S / 5))
        run.router.subscribe(stall)
        primary = "coder@local"
        run.router.subscribe(
            lambda event: run.fleet.host("local").set_fault(MODELS["reasoner@local"], Fault(stall_s=STALL_S))
            if isinstance(event, Decision) and event.chosen == primary and not event.reason.startswith("hedged")
            else None
        )
        text, record = await answer(run.router, ask(QUESTION, Task.SIMPLE))
        assert stall.primaries[0] == primary
        assert record.outcome is Outcome.OK and record.endpoint == primary
        assert f": {primary} won" in record.decision.reason
        assert text == run.fleet.host("local").chat_answer(MODELS[primary], [QUESTION])
        await wait_until(lambda: busy(run, "reasoner@local") == 0, timeout=STALL_S / FAST, message="the hedge's slot freed")
        hedged = run.router.snapshot().hedging
        assert hedged is not None and (hedged.sent, hedged.won, hedged.cancelled) == (1, 0, 1)


async def test_the_budget_caps_hedges() -> None:
    # Each request earns half a hedge, the bucket holds one: after the two warm-up requests it is
    # full, so the first late request is hedged, the second finds 0.5 and is not, the third finds 1.0.
    async with routed(hedging=hedging(ratio=0.5, burst=1), timeouts=PATIENT) as run:
        await warm(run)
        run.router.subscribe(StallWhereRouted(run.fleet.host("local"), Fault(stall_s=STALL_S / 5)))
        records = [(await answer(run.router, ask(QUESTION, Task.SIMPLE)))[1] for _ in range(3)]
        assert [record.outcome for record in records] == [Outcome.OK] * 3
        assert [record.decision.reason.startswith("hedged") for record in records] == [True, False, True]
        hedged = run.router.snapshot().hedging
        assert hedged is not None and (hedged.sent, hedged.denied) == (2, 1)
        assert hedged.budget == 0.0


async def test_the_switch_turns_hedging_off_and_is_recorded() -> None:
    async with routed(hedging=hedging(), timeouts=PATIENT) as run:
        await warm(run)
        stall = StallWhereRouted(run.fleet.host("local"), Fault(stall_s=STALL_S / 5))
        run.router.subscribe(stall)
        action = run.router.controls.set_hedging(False, source="console")
        assert (action.action, action.target, action.old, action.new) == ("set_hedging", "hedging", "on", "off")
        assert action in [event for event in run.events if isinstance(event, OperatorAction)]
        assert "hedging.enabled" in run.router.controls.differs_from_config()
        _, record = await answer(run.router, ask(QUESTION, Task.SIMPLE))
        assert record.outcome is Outcome.OK and record.endpoint == stall.primaries[0]
        assert record.ttft_s is not None and record.ttft_s >= STALL_S / 5 / FAST  # it waited out the stall
        snapshot = run.router.snapshot()
        assert snapshot.hedging is not None and not snapshot.hedging.enabled and snapshot.hedging.sent == 0
        run.router.controls.revert_to_config()
        assert run.router.snapshot().hedging.enabled  # type: ignore[union-attr]  # set above
        _, record = await answer(run.router, ask(QUESTION, Task.SIMPLE))
        assert record.decision.reason.startswith("hedged")


async def test_a_hedge_never_happens_after_the_first_token() -> None:
    # The first token comes at once, then the answer streams slowly for far longer than the hedge delay. The delay is
    # 0.5 s of wall time here, not HEDGE_AFTER_S's 0.04 s, which a first token on a loaded machine may miss.
    delay_s = 25.0  # scenario seconds
    async with routed(hedging=replace(hedging(), delay_s=delay_s), timeouts=PATIENT) as run:
        await warm(run)
        successes = {endpoint.id: endpoint.successes for endpoint in run.router.snapshot().endpoints}
        run.router.subscribe(StallWhereRouted(run.fleet.host("local"), Fault(slow_factor=80.0)))
        text, record = await answer(run.router, ask(QUESTION, Task.SIMPLE, options={"num_predict": 60}))
        assert record.outcome is Outcome.OK and not record.decision.reason.startswith("hedged")
        assert record.ttft_s is not None and record.ttft_s < delay_s / FAST
        assert record.total_s > 2 * delay_s / FAST
        assert record.endpoint is not None
        assert text == run.fleet.host("local").chat_answer(MODELS[record.endpoint], [QUESTION], num_predict=60)
        hedged = run.router.snapshot().hedging
        assert hedged is not None and hedged.sent == 0
        other = next(endpoint for endpoint in MODELS if endpoint != record.endpoint)
        assert next(e for e in run.router.snapshot().endpoints if e.id == other).successes == successes[other]
        assert busy(run, other) == 0


async def test_until_its_predictions_are_checked_a_stalled_request_is_hedged() -> None:
    async with routed(hedging=Hedging(ratio=1.0), timeouts=PATIENT) as run:
        for _ in range(3):  # measured: each endpoint gets a p95 (whichever the policy picks)
            await warm(run)
        run.router.subscribe(StallWhereRouted(run.fleet.host("local"), Fault(stall_s=STALL_S)))
        _, record = await answer(run.router, ask(QUESTION, Task.SIMPLE))
        assert record.decision.reason.startswith("hedged after ")
        assert record.ttft_s is not None and record.ttft_s < STALL_S / FAST / 2


# The default trigger, measured: each request's own predicted TTFT times its endpoint's measured
# prediction error. Slower models than elsewhere in this file, so that prefill, not the event
# loop's noise, makes the TTFTs.
MEASURED = 5.0
LONG_PROMPT_WORDS = 600  # ~1,500 tokens: ~0.2 s of prefill on the coder at this scale, ~0.4 s on the reasoner
SHORT_PROMPT_WORDS = 10


def prompt(words: int, tag: str) -> str:
    """A prompt of about `words` words that no slot's prompt cache holds (each starts with its own tag)."""
    return " ".join(f"{tag}w{i}" for i in range(words))


async def calibrate(run: Routed, words: int) -> None:
    """Enough first tokens on each endpoint (one request at a time on each), of prompts of `words` to 1.4 x
    `words` words, to measure its prediction error."""

    async def on(tier: str) -> None:
        for i in range(MIN_PREDICTION_SAMPLES + 2):
            request = ask(prompt(words + i * words // 50, f"{tier}{i}"), Task.SIMPLE, target=tier, options={"num_predict": 2})
            _, record = await answer(run.router, request)
            assert record.outcome is Outcome.OK

    await asyncio.gather(on("coder"), on("reasoner"))


def measured_p95(run: Routed, endpoint: str) -> float:
    p95 = run.router.metrics[endpoint].ttft_percentile(0.95, time.monotonic())
    assert p95 is not None
    return p95


async def test_a_long_prompt_slow_only_as_its_own_prediction_says_is_not_hedged() -> None:
    # The endpoints have only answered short prompts: a long one takes far longer than their measured
    # p95 (the old trigger would hedge it), but no longer than predicted for its size.
    async with routed(hedging=Hedging(ratio=1.0), timeouts=PATIENT, time_scale=MEASURED) as run:
        await calibrate(run, SHORT_PROMPT_WORDS * 5)
        p95 = {endpoint: measured_p95(run, endpoint) for endpoint in MODELS}
        _, record = await answer(run.router, ask(prompt(LONG_PROMPT_WORDS, "long"), Task.SIMPLE, options={"num_predict": 2}))
        assert record.outcome is Outcome.OK and record.endpoint is not None
        assert record.ttft_s is not None and record.ttft_s > 2 * p95[record.endpoint]
        assert not record.decision.reason.startswith("hedged")
        hedged = run.router.snapshot().hedging
        assert hedged is not None and hedged.sent == 0


async def test_a_short_prompt_later_than_its_own_prediction_allows_is_hedged() -> None:
    # The endpoints have answered long prompts: a short one stalled for half their measured p95 is
    # still early by that p95 (the old trigger would wait it out), but far later than its own prediction.
    async with routed(hedging=Hedging(ratio=1.0), timeouts=PATIENT, time_scale=MEASURED) as run:
        await calibrate(run, LONG_PROMPT_WORDS)
        stalls: dict[str, float] = {}

        def stall_for_half_the_p95(event: RouterEvent) -> None:
            if isinstance(event, Decision) and event.chosen is not None and not event.reason.startswith("hedged"):
                stalls[event.chosen] = measured_p95(run, event.chosen) / 2
                run.fleet.host("local").set_fault(MODELS[event.chosen], Fault(stall_s=stalls[event.chosen] * MEASURED))

        run.router.subscribe(stall_for_half_the_p95)
        text, record = await answer(run.router, ask(prompt(SHORT_PROMPT_WORDS, "short"), Task.SIMPLE, options={"num_predict": 2}))
        ((primary, stall_s),) = stalls.items()
        assert record.decision.reason.startswith("hedged after ")
        assert record.outcome is Outcome.OK and record.endpoint != primary  # the hedge answered before the stall ended
        assert record.endpoint is not None and record.ttft_s is not None and record.ttft_s < stall_s
        assert text == run.fleet.host("local").chat_answer(MODELS[record.endpoint], [prompt(SHORT_PROMPT_WORDS, "short")], num_predict=2)


async def test_a_hedged_away_straggler_counts_in_its_endpoints_ttft_but_not_in_its_prefill_rate() -> None:
    # The stalled attempt loses and is cancelled before its first token, but it waited as long as the
    # caller did: that censored wait reaches its endpoint's TTFT statistics. Not its prefill rate, which
    # every later prediction for the endpoint multiplies: one hedged stall must not make it look several
    # times slower (in `straggler` that sent the next requests to queue for the other replicas).
    # Hedged late enough that the wait dwarfs a cold start.
    async with routed(hedging=Hedging(ratio=1.0, delay_s=STALL_S / 2), timeouts=PATIENT) as run:
        await warm(run)
        before = {endpoint.id: endpoint for endpoint in run.router.snapshot().endpoints}
        stall = StallWhereRouted(run.fleet.host("local"), Fault(stall_s=3 * STALL_S))
        run.router.subscribe(stall)
        _, record = await answer(run.router, ask(QUESTION, Task.SIMPLE))
        primary = stall.primaries[0]
        assert record.decision.reason.startswith("hedged") and record.endpoint != primary
        assert record.ttft_s is not None
        after = next(endpoint for endpoint in run.router.snapshot().endpoints if endpoint.id == primary)
        assert before[primary].ttft_ewma_s is not None and before[primary].ttft_ewma_s < record.ttft_s / 2
        assert after.ttft_ewma_s is not None and after.ttft_ewma_s >= record.ttft_s * 0.9  # it waited from dispatch to the winner's token
        assert after.ttft_history[-1] == after.ttft_ewma_s
        assert before[primary].prefill_tps is not None and after.prefill_tps == pytest.approx(before[primary].prefill_tps)
        assert after.successes == before[primary].successes  # a lower bound on its TTFT, not an answer


async def test_a_hedge_cancelled_soon_after_it_was_sent_is_no_first_token_of_its_endpoint() -> None:
    # The primary answers a little after its hedge was sent: the hedge waited a few ms, a lower bound far below
    # anything expected of it. Read as a sample it made the hedge's endpoint's TTFT those few ms (in `overload` the
    # never-measured reasoner's, and least_load then sent it the burst); the endpoint's TTFT must stay as it was.
    async with routed(policy=PolicyName("least_load"), hedging=hedging(), timeouts=PATIENT) as run:
        host = run.fleet.host("local")
        for model in MODELS.values():  # first tokens of 20 hedge delays measured: more than the hedge will wait
            host.set_fault(model, Fault(stall_s=20 * HEDGE_AFTER_S))
        await warm(run)
        primaries: list[str] = []

        def late_primary_silent_hedge(event: RouterEvent) -> None:
            if isinstance(event, Decision) and event.chosen is not None and not primaries:
                primaries.append(event.chosen)
                for endpoint, model in MODELS.items():  # the primary late, then first; the hedge silent
                    host.set_fault(model, Fault(stall_s=10 * HEDGE_AFTER_S if endpoint == event.chosen else STALL_S))

        run.router.subscribe(late_primary_silent_hedge)
        before = {endpoint.id: endpoint for endpoint in run.router.snapshot().endpoints}
        _, record = await answer(run.router, ask(QUESTION, Task.SIMPLE))
        (primary,) = primaries
        assert record.outcome is Outcome.OK and record.endpoint == primary
        assert record.decision.reason.startswith("hedged after ") and f"{primary} won" in record.decision.reason
        (other,) = (endpoint.id for endpoint in run.router.snapshot().endpoints if endpoint.id in MODELS and endpoint.id != primary)
        after = next(endpoint for endpoint in run.router.snapshot().endpoints if endpoint.id == other)
        assert after.ttft_history == before[other].ttft_history and after.ttft_ewma_s == before[other].ttft_ewma_s


async def test_a_late_request_with_nowhere_to_hedge_to_is_hedged_once_a_slot_frees() -> None:
    # The only other endpoint is busy when the primary turns late, so a hedge there would queue; it is
    # sent when that slot frees, long before the stall ends.
    async with routed(hedging=hedging(), timeouts=PATIENT) as run:
        await warm(run)
        occupier = asyncio.create_task(answer(run.router, ask(QUESTION, Task.SIMPLE, target="reasoner", options={"num_predict": 1000})))
        await wait_until(lambda: run.router.slots.in_flight["reasoner@local"] == run.router.slots.slots["reasoner@local"], timeout=5)
        stall = StallWhereRouted(run.fleet.host("local"), Fault(stall_s=3 * STALL_S))
        run.router.subscribe(stall)
        _, record = await answer(run.router, ask(QUESTION, Task.SIMPLE))
        _, occupied = await occupier
        assert stall.primaries[:1] == ["coder@local"]
        assert record.outcome is Outcome.OK and record.endpoint == "reasoner@local"
        assert record.decision.reason.startswith("hedged after ")
        assert record.ttft_s is not None and occupied.ttft_s is not None
        occupier_ended = occupied.started_at + occupied.total_s
        assert record.started_at + record.ttft_s > occupier_ended - 0.005  # it waited for the occupier to finish ...
        assert record.ttft_s < 3 * STALL_S / FAST / 2  # ... not for the stall to end


async def test_a_late_request_is_hedged_the_moment_a_slot_frees_not_on_a_timer() -> None:
    # The other endpoint's slot frees an eighth of the hedge delay after the primary turned late: between
    # two looks of a re-check every quarter delay, so a timer would send the hedge ~0.25 s after the slot
    # freed; the slot freeing itself sends it.
    delay_s = 2.0  # wall seconds
    patient = Timeouts(first_token_s=20 * delay_s * FAST, total_s=20 * delay_s * FAST)
    async with routed(hedging=Hedging(ratio=1.0, delay_s=delay_s * FAST), timeouts=patient) as run:
        await warm(run)
        async with run.router.chat(ask(QUESTION, Task.SIMPLE, target="reasoner", options={"num_predict": 100_000})) as occupier:
            await anext(occupier)  # started: its slot is held while the stream stays open
            stall = StallWhereRouted(run.fleet.host("local"), Fault(stall_s=4 * delay_s * FAST))
            run.router.subscribe(stall)
            started = time.monotonic()
            asked = asyncio.create_task(answer(run.router, ask(QUESTION, Task.SIMPLE)))
            await asyncio.sleep(delay_s * 9 / 8)  # the scenario's timing: late by then, the slot still held
            freed = time.monotonic()
        text, record = await asked
        assert stall.primaries[:1] == ["coder@local"]
        assert record.outcome is Outcome.OK and record.endpoint == "reasoner@local"
        assert record.decision.reason.startswith("hedged after ")
        assert record.ttft_s is not None
        assert record.ttft_s - (freed - started) < delay_s / 16  # the hedge went out when the slot freed
        assert text == run.fleet.host("local").chat_answer(MODELS["reasoner@local"], [QUESTION])
        hedged = run.router.snapshot().hedging
        assert hedged is not None and (hedged.sent, hedged.won, hedged.cancelled) == (1, 1, 1)


def test_by_default_a_quiet_stretch_saves_enough_for_a_cluster_of_stragglers() -> None:
    # Late requests come in clusters (a straggling host, a burst of traffic); the bucket starts with
    # START_HEDGES and earns `ratio` per request, so hedges never exceed that share of the requests past those.
    defaults = Hedging()
    budget = HedgeBudget(defaults.ratio, defaults.burst)
    for _ in range(400):
        budget.on_request()
    assert [budget.try_spend() for _ in range(12)] == [True] * 12
    sent = 12
    for requests in range(1, 2001):
        budget.on_request()
        sent += budget.try_spend()
        assert sent <= START_HEDGES + defaults.ratio * (400 + requests) + 1e-9


async def test_a_straggler_among_a_fresh_routers_first_requests_is_hedged_by_default() -> None:
    # At 5 % a request earns a twentieth of a hedge: a bucket that started empty had earned none by the
    # first stragglers (in `straggler`, stalls in the first minute went unhedged and set the p99).
    async with routed(hedging=replace(Hedging(), delay_s=HEDGE_AFTER_S), timeouts=PATIENT) as run:
        await warm(run)
        stall = StallWhereRouted(run.fleet.host("local"), Fault(stall_s=STALL_S))
        run.router.subscribe(stall)
        _, record = await answer(run.router, ask(QUESTION, Task.SIMPLE))
        assert record.decision.reason.startswith("hedged after ")
        assert record.endpoint != stall.primaries[0]
        assert record.ttft_s is not None and record.ttft_s < STALL_S / FAST / 2
        hedged = run.router.snapshot().hedging
        assert hedged is not None and (hedged.sent, hedged.won, hedged.denied) == (1, 1, 0)


def test_before_the_predictions_are_checked_late_is_a_multiple_of_the_prediction_not_a_few_samples_p95() -> None:
    # The p95 of an endpoint's first three first tokens is their maximum, which one normal request in four passes:
    # in `straggler` that spent the first minute's budget on normal requests. Until the tier's predictions have been
    # checked, a request is late only past UNCALIBRATED_FACTOR times its own prediction; a 10x straggler passes that.
    metrics, now = EndpointMetrics(), 100.0
    for ttft_s in (0.50, 0.52, 0.55):
        metrics.observe_first_token(ttft_s, now, predicted_s=0.5)
    assert metrics.ttft_error_factor(0.99, now) is None  # not checked yet
    late = late_after_s(metrics, 0.5, 0.99, now)
    assert late == pytest.approx(0.5 * UNCALIBRATED_FACTOR)
    assert 2 * 0.5 < late < 10 * 0.5  # twice its prediction is not late; a straggler is
    assert late_after_s(metrics, None, 0.99, now) == 0.55  # without a prediction: the endpoint's p95
    assert late_after_s(EndpointMetrics(), 0.5, 0.99, now) is None  # never answered: no notion of late yet


async def test_a_late_request_takes_the_next_free_slot_before_requests_that_queued_after_it() -> None:
    # Every slot is busy when the primary turns late, and a later request already waits for one. The late request
    # keeps its place in the line (it arrived first): the slot that frees goes to its hedge, whose first token frees
    # the stalled slot for the later request. Before, the later request took it, and the stall held the caller
    # through the queue (in `straggler`, the slowest requests of the hedged runs were stalls in bursts).
    patient = Timeouts(first_token_s=20 * STALL_S, total_s=20 * STALL_S)
    async with routed(hedging=hedging(), timeouts=patient) as run:
        await warm(run)
        host = run.fleet.host("local")
        async with run.router.chat(ask(QUESTION, Task.SIMPLE, target="reasoner", options={"num_predict": 100_000})) as occupier:
            await anext(occupier)  # the reasoner's only slot is held while the stream stays open
            host.set_fault(MODELS["coder@local"], Fault(stall_s=10 * STALL_S))
            first = asyncio.create_task(answer(run.router, ask(QUESTION, Task.SIMPLE)))
            await wait_until(lambda: busy(run, "coder@local") == 1, timeout=5, message="the first request stalls on the coder")
            host.clear_faults(MODELS["coder@local"])
            second = asyncio.create_task(answer(run.router, ask("a later question", Task.SIMPLE)))
            await wait_until(lambda: run.router.slots.total_queued() == 1, timeout=5, message="the later request queues")
            await wait_until(lambda: run.router.slots.total_queued() == 2, timeout=5, message="the late request waits for a hedge")
        (text, record), (_, later) = await first, await second
        assert record.outcome is Outcome.OK and record.endpoint == "reasoner@local"
        assert record.decision.reason.startswith("hedged after ")
        assert record.ttft_s is not None and record.ttft_s < 10 * STALL_S / FAST / 2
        assert text == host.chat_answer(MODELS["reasoner@local"], [QUESTION])
        assert later.outcome is Outcome.OK and later.endpoint == "coder@local"  # on the slot the stalled attempt freed
        await wait_until(lambda: busy(run, "coder@local") == 0, timeout=5, message="the stalled attempt's slot freed")


async def test_an_endpoint_whose_attempts_are_hedged_away_in_a_row_is_predicted_no_sooner_than_it_kept_them_waiting() -> None:
    # `slowdown`: the reasoner slows down and every streamed request sent to it is hedged to the coder before its first
    # token, so no answer ever tells the router: its rates stay fast and it is chosen again for every request. After two
    # attempts in a row cut past their predictions, the next request is predicted at least their wait there.
    questions = (f"explain step by step why the sky is blue, take {n}" for n in itertools.count())

    def reasoning() -> ChatRequest:
        return ask(next(questions), Task.COMPLEX_REASONING)

    # No slot-hold term: back-to-back requests make the one-slot reasoner's arrival rate, and its hold_s, high here. At
    # 10x, not FAST: the floor decays over RELAX_TAU_S (time-scaled), at FAST within the coder's answers in between.
    scale = 10.0
    adaptive = Adaptive(explore_rate=0.0, hold_weight=0.0)
    async with routed(time_scale=scale, hedging=hedging(), timeouts=PATIENT, adaptive=adaptive) as run:
        await warm(run)
        _, first = await answer(run.router, reasoning())
        assert first.endpoint == "reasoner@local" and not first.decision.reason.startswith("hedged"), first.decision.reason
        run.fleet.host("local").set_fault(MODELS["reasoner@local"], Fault(stall_s=STALL_S))
        noted = "reasoner@local's last 2 attempts hedged away with no first token: its TTFT read at least"
        records = []
        while not records or noted not in records[-1].decision.reason:
            assert len(records) < 10, [r.decision.reason for r in records]
            records.append((await answer(run.router, reasoning()))[1])
        *before, moved = records
        assert sum(r.decision.reason.startswith("hedged after ") for r in before) == 2  # cut on the reasoner, then moved
        assert all(r.endpoint == "coder@local" for r in records)
        assert not moved.decision.reason.startswith("hedged")
        reasoner = next(c for c in moved.decision.candidates if c.endpoint == "reasoner@local")
        assert reasoner.terms["ttft_s"] >= HEDGE_AFTER_S / scale
