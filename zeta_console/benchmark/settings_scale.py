"""Router settings for a time-scaled emulator: every configured duration shrinks with it.

The emulator runs its latency model `time_scale` times faster, so a 2 s TTFT threshold must
become 2/time_scale s of wall time for the router to see the fleet as an operator would.
The connect timeout stays as it is: connecting over loopback is not part of the latency model.
"""

from __future__ import annotations

from dataclasses import replace

from zeta_console.settings import Settings, Thresholds


def _thresholds(thresholds: Thresholds, time_scale: float) -> Thresholds:
    return replace(thresholds, ttft_s=thresholds.ttft_s / time_scale, latency_s=thresholds.latency_s / time_scale)


def scaled_settings(settings: Settings, time_scale: float) -> Settings:
    timeouts, breaker = settings.timeouts, settings.breaker
    return replace(
        settings,
        thresholds=_thresholds(settings.thresholds, time_scale),
        models=tuple(
            replace(model, thresholds=_thresholds(model.thresholds, time_scale) if model.thresholds else None) for model in settings.models
        ),
        timeouts=replace(
            timeouts,
            first_token_s=timeouts.first_token_s / time_scale,
            first_token_per_1k_prompt_tokens_s=timeouts.first_token_per_1k_prompt_tokens_s / time_scale,
            idle_s=timeouts.idle_s / time_scale,
            total_s=timeouts.total_s / time_scale,
        ),
        breaker=replace(breaker, base_ejection_s=breaker.base_ejection_s / time_scale, max_ejection_s=breaker.max_ejection_s / time_scale),
        retry=replace(settings.retry, min_per_s=settings.retry.min_per_s * time_scale),
        hedging=replace(settings.hedging, delay_s=settings.hedging.delay_s / time_scale),
        admission=replace(settings.admission, patience_s=settings.admission.patience_s / time_scale),
        adaptive=replace(
            settings.adaptive,
            half_life_s=settings.adaptive.half_life_s / time_scale,
            reading_s_per_token=settings.adaptive.reading_s_per_token / time_scale,
        ),
        affinity=replace(settings.affinity, idle_ttl_s=settings.affinity.idle_ttl_s / time_scale),
    )
