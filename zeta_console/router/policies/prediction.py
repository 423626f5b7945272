"""What one endpoint would take for a request: TTFT, completion, and the part the caller waits for.

  ttft_s        = wait_s + load_s + prefill_s + overhead_s
  completion_s  = ttft_s + expected output tokens x the endpoint's measured seconds per token
  waited-for    = ttft_s + decode_s, where decode_s is the decode time the caller notices:
                  all of it when the caller waits for the whole answer (`Ranking.COMPLETION`:
                  non-streaming calls, embeddings, programs), and for a person reading a stream
                  (`Ranking.READER`) only what decoding takes beyond reading the same tokens.

wait_s      work ahead beyond the free slots x expected service time / slots (5 TTFT thresholds when never measured),
            the first of it how soon the first answer under way is expected to end (`frees_in_s`), when known
load_s      cold-start time when the model is not resident (1.5 TTFT thresholds when never seen loading)
prefill_s   prompt tokens x prefill rate (when the rate is unknown: the peak-EWMA TTFT, an embedding's service
            time; the TTFT threshold when never measured, embeddings too), slowed by the
            requests sharing the endpoint's parallel slots
overhead_s  the first token's own decode step (1 / decode rate) plus what a first token on the
            host takes beyond the reported load, prefill and first step (network, scheduling): the
            recent median over the host's endpoints, 0 until measured
Expected output tokens are learned per task x tier (the feedback loop), capped by the request's
own `num_predict`; never latency divided by output length.
The prefill and decode rates are read relaxed towards their long-run levels as their last sample ages
(metrics.py `LongRunLevel`), so an endpoint left alone after a slowdown is tried again.
After two or more attempts in a row were cut by hedges past their predictions with no first token since, the TTFT is
at least the longest of those waits, decaying (`EndpointState.silent_s`); what falls short of it is added to prefill_s.
"""

from __future__ import annotations

from zeta_console.router.api import Prediction, Ranking
from zeta_console.router.candidates import DecisionInput, EndpointState
from zeta_console.router.policies.base import seed_load_s, seed_service_s, ttft_estimate

SEED_OUTPUT_TOKENS = 256.0  # expected output of a task x tier never observed
# An endpoint never measured decodes a token in this share of its TTFT threshold: 20 tokens/s at the default
# 2 s, conservative; from the threshold, so that it follows a time-scaled emulator as the thresholds do.
SEED_TOKEN_PER_TTFT_THRESHOLD = 1 / 40

RELAXED_NOTE_FACTOR = 1.25  # a decision says so when relaxing moved its chosen endpoint's estimates by more

# wait, load, prefill, overhead, decode counted, full decode: seconds
Estimate = tuple[float, float, float, float, float, float]


def estimate(e: EndpointState, prompt_tokens: int, embedding: bool, output_tokens: float, reading_s_per_token: float) -> Estimate:
    """The endpoint's predicted times for a request. `reading_s_per_token` 0 counts all of the decode."""
    # capacity, service_time_s, on_server and predicted_wait_s((e,)) inlined: this runs for every candidate of every decision.
    slots = e.slots if e.server_slots is None else e.server_slots
    if slots < 1:
        slots = 1
    measured = e.latency_ewma_s if e.latency_ewma_s is not None else e.latency_p95_s
    service = measured if measured is not None else seed_service_s(e)
    running = e.server_running
    in_flight = e.in_flight if running is None else running + (e.server_waiting or 0)
    ahead = in_flight + e.queued + e.recent_fast_failures + 1 - slots
    frees_in = e.frees_in_s
    wait = 0.0 if ahead <= 0 else ahead * service / slots if frees_in is None else (ahead - 1) * service / slots + frees_in
    load = (e.load_s if e.load_s is not None else seed_load_s(e)) if e.resident is False else 0.0
    tps = e.decode_tps
    overhead = 0.0
    if e.prefill_s_per_token is not None:
        base = prompt_tokens * e.prefill_s_per_token
        if e.ttft_overhead_s is not None:
            overhead = e.ttft_overhead_s
        if tps and not embedding:
            overhead += 1.0 / tps  # the first token's own decode step
    else:  # the estimate already holds the overhead; an embedding's whole answer is its first token
        base = measured if embedding and measured is not None else ttft_estimate(e)
    sharing = in_flight if in_flight < slots else slots - 1  # requests running beside this one
    prefill = base + base * sharing / slots
    floor = e.silent_s
    if floor and floor > wait + load + prefill + overhead:  # its last attempts were cut by hedges past their predictions
        prefill = floor - wait - load - overhead
    decode = output_tokens / tps if tps else output_tokens * e.thresholds.ttft_s * SEED_TOKEN_PER_TTFT_THRESHOLD
    unread = decode - output_tokens * reading_s_per_token
    return wait, load, prefill, overhead, (unread if unread > 0.0 else 0.0), decode


def expected_output(inp: DecisionInput, tier: str) -> float:
    """The output length to expect from `tier` for this request: learned, capped by num_predict; 0 for embeddings."""
    if "embedding" in inp.needs:
        return 0.0
    learned = inp.expected_output_tokens.get(tier, SEED_OUTPUT_TOKENS)
    cap = inp.max_output_tokens
    return learned if cap is None or learned < cap else float(cap)


def prediction_for(inp: DecisionInput, endpoint: str, reading_s_per_token: float, waited_s: float) -> Prediction | None:
    """The prediction recorded with a decision, for its chosen `endpoint` (whichever policy chose it)."""
    for e in inp.endpoints:
        if e.id == endpoint:
            output = expected_output(inp, e.tier)
            reading = reading_s_per_token if inp.ranking is Ranking.READER else 0.0
            wait, load, prefill, overhead, _, decode = estimate(e, inp.prompt_tokens, "embedding" in inp.needs, output, reading)
            ttft = wait + load + prefill + overhead
            return Prediction(ttft, ttft + decode, output, inp.ranking, waited_s)
    return None


def silent_note(e: EndpointState, ttft_s: float) -> str:
    """Why an endpoint is predicted `ttft_s`, slower than its rates say: its last attempts were hedged away; "" when
    that floor did not set its prediction."""
    if not e.silent_s or e.silent_s < ttft_s - 1e-9:
        return ""
    return f"{e.id}'s last {e.silent_attempts} attempts hedged away with no first token: its TTFT read at least {e.silent_s:.2f} s"


def relaxed_note(e: EndpointState) -> str:
    """Why an endpoint whose last answers were slow (or fast) is predicted otherwise now; "" when that is not so."""
    factor = e.estimates_relaxed_by
    if factor < RELAXED_NOTE_FACTOR:
        return ""
    return f"{e.id}'s speed estimates not refreshed lately, read {factor:.1f}x back towards their long-run level"
