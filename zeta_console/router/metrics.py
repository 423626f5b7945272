"""Live statistics per endpoint: O(1) to update on the hot path, summarised on snapshot.

Everything forgets: EWMAs decay with time, percentiles come from a bounded ring of recent
samples no older than a window, error rates and request rates are decayed counts (an error rate
also forgets when no requests arrive), and a rate that no answer refreshes is read relaxed back to its
long-run level (`LongRunLevel`). Nothing here
counts in-flight or queued requests: the slot table is the one place that does.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from statistics import NormalDist
from typing import NamedTuple

from zeta_console.backends.types import FinalTimings
from zeta_console.rate_meter import RateMeter
from zeta_console.router.api import ErrorKind, Outcome

PERCENTILE_SAMPLES = 256
PERCENTILE_WINDOW_S = 300.0
PERCENTILE_REFRESH_S = 0.25
HISTORY_SAMPLES = 60  # sparkline length
EWMA_TAU_S = 10.0
OVERHEAD_SAMPLES = 32
MIN_SIZE_SPREAD = 0.01  # sizes whose variance is under 1 % of their squared mean are too alike to draw a line through
ERROR_HALF_LIFE_S = 60.0
DISPATCH_HALF_LIFE_S = 30.0  # an endpoint's arrival rate follows a burst within a minute
MIN_ERROR_SAMPLES = 5.0  # a rate over fewer (decayed) outcomes is taken over this many
COLD_LOAD_MIN_S = 0.25  # load_duration below this is a warm model (it also includes queueing); divided by the time scale
MIN_PREDICTION_SAMPLES = 20  # first tokens checked against their predictions before their spread is trusted
MIN_PREDICTED_S = 1e-3  # a prediction or a TTFT below this is taken as this (their ratio is logged)
LONG_RUN_TAU_S = 300.0  # the long-run level of an estimate: an EWMA this slow (the percentile window)
RELAX_TAU_S = 2 * EWMA_TAU_S  # an estimate not refreshed for this long is read 63 % of the way back to its long-run level
SILENT_STREAK = 2  # attempts in a row cut by a hedge past their prediction before their wait bounds the next prediction
_Z_P75 = NormalDist().inv_cdf(0.75)


class Ewma:
    """Time-decayed average; the decay weight depends on the time since the previous sample.

    With `peak=True` (Linkerd/Finagle peak-EWMA) it jumps up at once on a slower sample and only
    decays towards faster ones, so one slow answer is noticed immediately while an old estimate
    is replaced quickly once the endpoint is measured again.
    """

    __slots__ = ("_at", "_peak", "_tau_s", "value")

    def __init__(self, *, peak: bool = False, tau_s: float = EWMA_TAU_S) -> None:
        self._peak = peak
        self._tau_s = tau_s
        self.value: float | None = None
        self._at = 0.0

    def observe(self, sample: float, now: float) -> None:
        if self.value is None or (self._peak and sample > self.value):
            self.value = sample
        else:
            keep = math.exp(-max(0.0, now - self._at) / self._tau_s)
            self.value = self.value * keep + sample * (1.0 - keep)
        self._at = now


class LongRunLevel:
    """The long-run level of one estimate (a slow EWMA of its values), and the estimate read relaxed towards it.

    An estimate is refreshed only by answers, and an endpoint routed around because its estimate reads slow sends
    none: without this, an endpoint that was slow for a minute and recovered looks slow until a random pick or a
    busy fleet sends it a request again. Read through `relaxed`, an estimate whose last sample is `age` old is
    moved back towards the level it held before, geometrically (a rate and its inverse relax alike) by
    1 - exp(-age / RELAX_TAU_S). A real slowdown is still routed around: the first slow answer sets the estimate,
    and each request the relaxed estimate draws back measures it again (one probe per few RELAX_TAU_S, at a cost
    the ranking weighs against waiting elsewhere). It changes nothing while answers keep the estimate fresh."""

    __slots__ = ("_at", "_level", "_relax_tau_s")

    def __init__(self, *, tau_s: float = LONG_RUN_TAU_S, relax_tau_s: float = RELAX_TAU_S) -> None:
        self._level = Ewma(tau_s=tau_s)
        self._relax_tau_s = relax_tau_s
        self._at = 0.0

    def observe(self, value: float, now: float) -> None:
        """Call with every new value of the estimate, when its sample arrives."""
        self._level.observe(value, now)
        self._at = now

    def relaxed(self, estimate: float | None, now: float) -> float | None:
        """`estimate` (last set when this level was last observed) read as of `now`."""
        level = self._level.value
        age = now - self._at
        if estimate is None or level is None or estimate <= 0.0 or level <= 0.0 or age <= 0.0:
            return estimate
        return estimate * math.pow(level / estimate, 1.0 - math.exp(-age / self._relax_tau_s))


class DecayedSlope:
    """Seconds per token (e.g. of prefill) as the slope of a time-decayed least-squares line
    y = fixed + slope * x over recent requests.

    An average of per-request ratios would charge a fixed cost per request (scheduling, a late
    timer) to the tokens of small requests and inflate the rate; the line keeps that cost out of the
    slope (the first-token overhead picks it up). While the sizes seen are too alike to draw a line,
    or the line slopes down (noise), it is the ratio of the decayed sums instead."""

    __slots__ = ("_at", "_tau_s", "_w", "_x", "_xx", "_xy", "_y")

    def __init__(self, *, tau_s: float = EWMA_TAU_S) -> None:
        self._tau_s = tau_s
        self._at = 0.0
        self._w = self._x = self._y = self._xx = self._xy = 0.0

    def observe(self, x: float, y: float, now: float) -> None:
        keep = math.exp(-max(0.0, now - self._at) / self._tau_s)
        self._at = now
        self._w = self._w * keep + 1.0
        self._x = self._x * keep + x
        self._y = self._y * keep + y
        self._xx = self._xx * keep + x * x
        self._xy = self._xy * keep + x * y

    @property
    def value(self) -> float | None:
        if self._x <= 0:
            return None
        spread = self._w * self._xx - self._x * self._x  # w^2 x the variance of the sizes
        if spread > MIN_SIZE_SPREAD * self._x * self._x:
            slope = (self._w * self._xy - self._x * self._y) / spread
            if slope > 0:
                return slope
        return self._y / self._x


class DecayedCount:
    """A count that halves every `half_life_s`: recent events weigh, old ones fade."""

    __slots__ = ("_at", "_rate", "_value")

    def __init__(self, half_life_s: float = ERROR_HALF_LIFE_S) -> None:
        self._rate = math.log(2) / half_life_s
        self._value = 0.0
        self._at = 0.0

    def add(self, now: float, amount: float = 1.0) -> None:
        self._value = self.value(now) + amount
        self._at = now

    def value(self, now: float) -> float:
        if not self._value:  # nothing counted yet: read on every decision, for every endpoint
            return 0.0
        return self._value * math.exp(-self._rate * max(0.0, now - self._at))

    def per_s(self, now: float) -> float:
        """Events per second: a steady rate r keeps the count at r / decay rate."""
        return self.value(now) * self._rate


class ErrorRate:
    """The share of recent outcomes that failed.

    Both counts decay with time, and a rate over fewer than `MIN_ERROR_SAMPLES` (decayed) outcomes
    is taken over that many: one failure reads 20 %, not 100 %, and on an endpoint nobody sends
    requests to the failures fade towards 0 as they age, instead of the last ratio standing forever.
    """

    __slots__ = ("_bad", "_ok")

    def __init__(self, half_life_s: float = ERROR_HALF_LIFE_S) -> None:
        self._ok = DecayedCount(half_life_s)
        self._bad = DecayedCount(half_life_s)

    def add(self, ok: bool, now: float) -> None:
        (self._ok if ok else self._bad).add(now)

    def value(self, now: float) -> float:
        bad = self._bad.value(now)
        if not bad:
            return 0.0
        total = self._ok.value(now) + bad
        return bad / (total if total > MIN_ERROR_SAMPLES else MIN_ERROR_SAMPLES)


class FleetTraffic:
    """Fleet-wide counts: requests arriving per second, finished requests, the share of them shed, and the share
    of the others that failed.

    A shed request (503, `RejectedError.shed`) is the router declining work it predicts it cannot serve in time,
    not a failure of the fleet: counted as an error, the demo's first seconds (background requests shed while its
    models loaded) read as a fleet failing 3-6 % of its requests while every card said 0 % failed. It has its own
    rate, shown beside the error rate."""

    def __init__(self) -> None:
        self._arrivals = RateMeter()
        self._outcomes = ErrorRate()
        self._shed = ErrorRate()
        self.finished = 0

    def arrived(self, now: float) -> None:
        self._arrivals.add(now)

    def ended(self, outcome: Outcome, now: float, shed: bool = False) -> None:
        self.finished += 1
        if outcome is Outcome.CANCELLED:
            return
        self._shed.add(not shed, now)
        if not shed:
            self._outcomes.add(outcome is Outcome.OK, now)

    def requests_per_s(self, now: float) -> float:
        return self._arrivals.per_second(now)

    def error_rate(self, now: float) -> float:
        return self._outcomes.value(now)

    def shed_rate(self, now: float) -> float:
        return self._shed.value(now)


class SampleWindow:
    """The last N samples with their times; percentiles over those inside the time window.

    Sorting is the costly part, so the sorted copy is refreshed at most every
    `PERCENTILE_REFRESH_S` (the EWMAs are the fast signal), or at once for the first samples.
    """

    __slots__ = ("_changed", "_samples", "_sorted", "_sorted_at", "_window_s")

    def __init__(self, size: int = PERCENTILE_SAMPLES, window_s: float = PERCENTILE_WINDOW_S) -> None:
        self._window_s = window_s
        self._samples: deque[tuple[float, float]] = deque(maxlen=size)
        self._sorted: list[float] = []
        self._sorted_at = -math.inf
        self._changed = False

    def add(self, value: float, now: float) -> None:
        self._samples.append((now, value))
        self._changed = True

    def percentile(self, fraction: float, now: float) -> float | None:
        """Nearest-rank percentile."""
        ordered = self._ordered(now)
        if not ordered:
            return None
        rank = max(0, math.ceil(fraction * len(ordered)) - 1)
        return ordered[rank]

    def count(self, now: float) -> int:
        """The samples inside the window (as of the last refresh)."""
        return len(self._ordered(now))

    def _ordered(self, now: float) -> list[float]:
        if now - self._sorted_at > PERCENTILE_REFRESH_S or (self._changed and not self._sorted):
            oldest = now - self._window_s
            self._sorted = sorted(value for at, value in self._samples if at >= oldest)
            self._sorted_at = now
            self._changed = False
        return self._sorted


def cold_load_s(timings: FinalTimings | None, min_s: float = COLD_LOAD_MIN_S) -> float:
    """The model load a request paid, as its server reported it (Ollama's `load_duration`, which counts the wait
    for the loads queued ahead of it too); 0 for a model that was loaded (under `min_s`), and for servers that
    report none (llama.cpp)."""
    load_s = timings.load_s if timings is not None else None
    return load_s if load_s is not None and load_s >= min_s else 0.0


class Estimates(NamedTuple):
    """An endpoint's estimates as the predictions read them (`EndpointMetrics.estimates`)."""

    decode_tps: float | None
    prefill_s_per_token: float | None
    relaxed_by: float  # the larger factor by which relaxing moved the decode or prefill rate; 1.0 = as measured


@dataclass(frozen=True)
class MetricsView:
    """What the endpoint's metrics say right now (computed on demand)."""

    ttft_ewma_s: float | None
    ttft_p50_s: float | None
    ttft_p95_s: float | None
    ttft_p99_s: float | None
    latency_p50_s: float | None
    latency_p95_s: float | None
    latency_p99_s: float | None
    decode_tps: float | None
    prefill_s_per_token: float | None
    load_s: float | None
    last_cold_load_s: float | None  # the last cold load, while it is inside the percentile window it was kept out of
    successes: int
    errors: int
    errors_by_kind: Mapping[str, int]
    error_rate: float
    recent_fast_failures: int
    last_sample_age_s: float | None
    ttft_history: tuple[float, ...]
    latency_history: tuple[float, ...]
    tps_history: tuple[float, ...]

    @property
    def prefill_tps(self) -> float | None:
        return 1.0 / self.prefill_s_per_token if self.prefill_s_per_token else None


def overhead_window(time_scale: float = 1.0) -> SampleWindow:
    """Recent first-token overheads of one host. Small and noisy (the event loop's scheduling), so a median of
    many, and per host: every endpoint's traffic keeps it fresh, and the noise is the same for all of them."""
    return SampleWindow(size=OVERHEAD_SAMPLES, window_s=PERCENTILE_WINDOW_S / time_scale)


def prediction_error_window(time_scale: float = 1.0) -> SampleWindow:
    """Recent log(actual / predicted TTFT) of one tier. Per tier, not per endpoint: the same model on several hosts
    errs alike, and a straggling host's own slow first tokens (and the over-predictions that follow them) are then
    a small share of the samples instead of a tenth of its own, which would widen its spread past its stragglers."""
    return SampleWindow(window_s=PERCENTILE_WINDOW_S / time_scale)


class EndpointMetrics:
    """Per endpoint (host x model). Times are `time.monotonic()` seconds.

    `time_scale` divides every time constant (EWMA decay, error half-life, percentile window), so
    that against an emulator running N times faster the router forgets N times faster too.
    """

    def __init__(self, time_scale: float = 1.0, host_overhead: SampleWindow | None = None, tier_error: SampleWindow | None = None) -> None:
        """`host_overhead`: the window of first-token overheads shared by every endpoint of the host (`overhead_window`);
        `tier_error`: the window of TTFT prediction errors shared by every endpoint of the tier (`prediction_error_window`)."""
        tau_s = EWMA_TAU_S / time_scale
        half_life_s = ERROR_HALF_LIFE_S / time_scale
        self.ttft = Ewma(peak=True, tau_s=tau_s)
        self.latency = Ewma(peak=True, tau_s=tau_s)
        self.decode_tps = Ewma(tau_s=tau_s)
        self.prefill_s_per_token = DecayedSlope(tau_s=tau_s)
        self.load_s = Ewma(tau_s=tau_s)
        long_run_tau_s = LONG_RUN_TAU_S / time_scale
        relax_tau_s = RELAX_TAU_S / time_scale
        self._decode_level = LongRunLevel(tau_s=long_run_tau_s, relax_tau_s=relax_tau_s)
        self._prefill_level = LongRunLevel(tau_s=long_run_tau_s, relax_tau_s=relax_tau_s)
        self._overhead_window = host_overhead if host_overhead is not None else overhead_window(time_scale)
        self._window_s = PERCENTILE_WINDOW_S / time_scale
        self._ttft_window = SampleWindow(window_s=self._window_s)
        self._ttft_error = tier_error if tier_error is not None else prediction_error_window(time_scale)
        self._latency_window = SampleWindow(window_s=self._window_s)
        self._ttft_history: deque[float] = deque(maxlen=HISTORY_SAMPLES)
        self._latency_history: deque[float] = deque(maxlen=HISTORY_SAMPLES)
        self._tps_history: deque[float] = deque(maxlen=HISTORY_SAMPLES)
        self.successes = 0
        self._errors_by_kind: dict[str, int] = {}
        self._errors = ErrorRate(half_life_s)
        self._recent_fast_failures = DecayedCount(half_life_s)
        self._dispatches = DecayedCount(DISPATCH_HALF_LIFE_S / time_scale)
        self._last_sample_at: float | None = None
        self.last_answer_at: float | None = None  # the model was resident then
        self._last_cold_load: tuple[float, float] | None = None  # (when, seconds)
        # An emulator N times faster loads N times faster: at 10x the embedder's 2 s load (0.2 s) read as serving time.
        self._cold_load_min_s = COLD_LOAD_MIN_S / time_scale
        self._relax_tau_s = relax_tau_s
        self._silent_attempts = 0  # attempts in a row cut by a hedge past their prediction, no first token since
        self._silent = (0.0, 0.0)  # (the longest of those waits, when the last was cut)

    def cold_load(self, timings: FinalTimings | None) -> float:
        """`cold_load_s` at this endpoint's time scale."""
        return cold_load_s(timings, self._cold_load_min_s)

    def dispatched(self, now: float) -> None:
        """A request was sent here (an attempt or a hedge took one of its slots)."""
        self._dispatches.add(now)

    def arrivals_per_s(self, now: float) -> float:
        """Requests sent here per second, recently (decayed): the endpoint's arrival rate."""
        return self._dispatches.per_s(now)

    def answering(self, now: float) -> None:
        """The endpoint answers: its model is resident."""
        self.last_answer_at = now

    def observe_first_token(self, ttft_s: float, now: float, predicted_s: float | None = None, load_s: float = 0.0) -> None:
        """A first token after `ttft_s`, `load_s` of which the server spent loading the model (`cold_load`);
        `predicted_s`: what the decision predicted for it.

        The TTFT statistics (EWMA, percentiles, history) take the time less the load: a load is not the endpoint's
        serving time (the predictions add it apart while the model is not resident) and, counted in the p95 that
        the health check compares with the threshold, it made every model read DEGRADED after its cold start.
        The prediction error takes the whole time: the prediction counted the load when it expected one."""
        self.last_answer_at = now
        self._silent_attempts = 0
        self._observe_ttft(max(0.0, ttft_s - load_s), now)
        self._observe_prediction(ttft_s, now, predicted_s)

    def observe_censored_first_token(self, at_least_s: float, now: float, predicted_s: float | None) -> None:
        """An attempt cancelled after `at_least_s` without a first token, because another attempt's came first
        (hedging): its TTFT was at least that. It goes to the TTFT statistics and the prediction error (the p95
        and p99 stay honest, and so does the tier's error spread), not to the prefill rate: the hedge already
        cut the caller's wait, and a one-off stall read as a rate makes the endpoint look several times slower
        for every request after it, which then queue for the other replicas and make the fleet's tail.
        Only a wait longer than was expected of it says anything (its prediction, and the endpoint's TTFT estimate):
        a shorter one is a lower bound below the estimate, which read as a sample is a fast first token that never
        came (a hedge cancelled a few ms after it was sent made a never-measured endpoint's TTFT those few ms, and
        `least_load` then sent it the next requests).
        One past its own prediction also counts towards `silent_s`."""
        if predicted_s is not None and at_least_s > predicted_s:
            longest = self._silent[0] if self._silent_attempts else 0.0
            self._silent_attempts += 1
            self._silent = (max(longest, at_least_s), now)
        expected = max(predicted_s or 0.0, self.ttft.value or 0.0)
        if expected > 0.0 and at_least_s > expected:
            self._observe_ttft(at_least_s, now)
            self._observe_prediction(at_least_s, now, predicted_s)

    def _observe_ttft(self, ttft_s: float, now: float) -> None:
        self.ttft.observe(ttft_s, now)
        self._ttft_window.add(ttft_s, now)
        self._ttft_history.append(ttft_s)
        self._last_sample_at = now

    def _observe_prediction(self, ttft_s: float, now: float, predicted_s: float | None) -> None:
        if predicted_s is not None:
            self._ttft_error.add(math.log(max(ttft_s, MIN_PREDICTED_S) / max(predicted_s, MIN_PREDICTED_S)), now)

    def observe_success(self, total_s: float, timings: FinalTimings | None, now: float, ttft_s: float | None = None) -> None:
        self.successes += 1
        self._errors.add(True, now)
        load_s = self.cold_load(timings)
        # The service time, as for the TTFT: a queued request finds the model loaded, and a load is not slowness.
        serving_s = max(0.0, total_s - load_s)
        self.latency.observe(serving_s, now)
        self._latency_window.add(serving_s, now)
        self._latency_history.append(serving_s)
        self._last_sample_at = now
        if load_s:
            self.load_s.observe(load_s, now)
            self._last_cold_load = (now, load_s)
        if timings is None:
            return
        if (tps := timings.decode_tps) is not None:
            self.decode_tps.observe(tps, now)
            self._decode_level.observe(tps, now)
            self._tps_history.append(tps)
        prefill_s = timings.prefill_s
        if not prefill_s and not timings.output_tokens and timings.total_s is not None:
            # An embedding: Ollama reports no prefill time for it, but all of it past the load is prefill.
            prefill_s = max(0.0, timings.total_s - (timings.load_s or 0.0))
        evaluated = timings.evaluated_prompt_tokens
        if prefill_s is not None and evaluated > 0:
            self.prefill_s_per_token.observe(evaluated, prefill_s, now)
            rate = self.prefill_s_per_token.value
            if rate is not None:
                self._prefill_level.observe(rate, now)
            if ttft_s is not None and rate is not None:
                # Against the prefill the rate predicts, not the one reported: the fixed cost per request
                # the slope leaves out lands here, so rate and overhead add up to the TTFT.
                first_step = timings.decode_s / timings.output_tokens if timings.decode_s and timings.output_tokens else 0.0
                predicted = evaluated * rate + (timings.load_s or 0.0) + first_step
                self._overhead_window.add(max(0.0, ttft_s - predicted), now)

    def observe_error(self, kind: ErrorKind, elapsed_s: float, now: float) -> None:
        self._errors_by_kind[kind.value] = self._errors_by_kind.get(kind.value, 0) + 1
        self._last_sample_at = now
        if kind is ErrorKind.BUSY:  # backpressure: load, not an error; but a fast answer must not look attractive
            self._recent_fast_failures.add(now)
            return
        self._errors.add(False, now)
        if elapsed_s < (self.ttft.value or 1.0):
            self._recent_fast_failures.add(now)

    def error_rate(self, now: float) -> float:
        return self._errors.value(now)

    def estimates(self, now: float) -> Estimates:
        """The rates the predictions read, each relaxed towards its long-run level as its last sample ages. Only the
        rates: the peak-EWMAs (TTFT, service time) keep a busy endpoint's slow answers on purpose, and an idle
        endpoint's prediction rests on its rates (its wait is 0)."""
        decode = self.decode_tps.value
        prefill = self.prefill_s_per_token.value
        read_decode = self._decode_level.relaxed(decode, now)
        read_prefill = self._prefill_level.relaxed(prefill, now)
        factor = 1.0
        for read, measured in ((read_decode, decode), (read_prefill, prefill)):
            if read and measured:
                factor = max(factor, read / measured, measured / read)
        return Estimates(read_decode, read_prefill, factor)

    def silent_s(self, now: float) -> float:
        """A floor under the endpoint's next first token: after SILENT_STREAK or more attempts in a row were cut by
        a hedge past their predictions with no first token since, the longest of those waits, decaying by
        exp(-age / RELAX_TAU_S) from the last; else 0. The rates learn only from answers, and a hedge that wins cancels
        the slow attempt before it gives one: `slowdown`'s reasoner, 5x slower, was predicted at its old speed and
        chosen for eight streamed requests in a row, each hedged away after 0.5-1.2 s. One cut attempt is not
        enough (a one-off stall, `straggler`'s); the decay sends the endpoint a request again now and then, which
        a recovered endpoint answers (and the floor is gone) and a slow one is cut from again (and it stays)."""
        if self._silent_attempts < SILENT_STREAK:
            return 0.0
        longest, at = self._silent
        return longest * math.exp(-(now - at) / self._relax_tau_s)

    def silent_attempts(self) -> int:
        """Attempts in a row cut by a hedge past their predictions, with no first token since."""
        return self._silent_attempts

    def recent_fast_failures(self, now: float) -> int:
        return round(self._recent_fast_failures.value(now))

    def last_sample_age_s(self, now: float) -> float | None:
        return None if self._last_sample_at is None else now - self._last_sample_at

    def ttft_percentile(self, fraction: float, now: float) -> float | None:
        return self._ttft_window.percentile(fraction, now)

    def ttft_error_factor(self, fraction: float, now: float) -> float | None:
        """How many times its own predicted TTFT a first token on this endpoint's tier takes, at percentile `fraction`
        of recent first tokens; None until MIN_PREDICTION_SAMPLES were checked. Read from the median and p75 of
        log(actual / predicted) as a normal spread rather than counted at `fraction`, so that stragglers (any share
        under a quarter) do not widen it: the bound is the normal requests' tail, and stragglers pass it."""
        window = self._ttft_error
        if window.count(now) < MIN_PREDICTION_SAMPLES:
            return None
        median = window.percentile(0.5, now)
        p75 = window.percentile(0.75, now)
        assert median is not None and p75 is not None  # counted above
        return math.exp(median + NormalDist().inv_cdf(fraction) * (p75 - median) / _Z_P75)

    def ttft_overhead_s(self, now: float) -> float | None:
        """What a first token on this host takes beyond the reported load, prefill and first decode step
        (network, scheduling): the recent median over the host's endpoints."""
        return self._overhead_window.percentile(0.5, now)

    def last_cold_load_s(self, now: float) -> float | None:
        """The last cold load's duration, while it is inside the window of samples it was kept out of."""
        if self._last_cold_load is None or now - self._last_cold_load[0] > self._window_s:
            return None
        return self._last_cold_load[1]

    def latency_percentile(self, fraction: float, now: float) -> float | None:
        return self._latency_window.percentile(fraction, now)

    def view(self, now: float) -> MetricsView:
        return MetricsView(
            ttft_ewma_s=self.ttft.value,
            ttft_p50_s=self.ttft_percentile(0.50, now),
            ttft_p95_s=self.ttft_percentile(0.95, now),
            ttft_p99_s=self.ttft_percentile(0.99, now),
            latency_p50_s=self.latency_percentile(0.50, now),
            latency_p95_s=self.latency_percentile(0.95, now),
            latency_p99_s=self.latency_percentile(0.99, now),
            decode_tps=self.decode_tps.value,
            prefill_s_per_token=self.prefill_s_per_token.value,
            load_s=self.load_s.value,
            last_cold_load_s=self.last_cold_load_s(now),
            successes=self.successes,
            errors=sum(self._errors_by_kind.values()),
            errors_by_kind=dict(self._errors_by_kind),
            error_rate=self.error_rate(now),
            recent_fast_failures=self.recent_fast_failures(now),
            last_sample_age_s=self.last_sample_age_s(now),
            ttft_history=tuple(self._ttft_history),
            latency_history=tuple(self._latency_history),
            tps_history=tuple(self._tps_history),
        )
