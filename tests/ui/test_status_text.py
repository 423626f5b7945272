"""Short texts the header and the endpoint cards show."""

from __future__ import annotations

import dataclasses

from tests.ui.frozen import SNAPSHOT
from zeta_console.router.api import EndpointStatus
from zeta_console.ui.widgets.endpoint_card import status_text, where_loaded
from zeta_console.ui.widgets.header import summary_text

GB = 1024**3


def test_where_the_model_sits_is_said_in_a_few_words() -> None:
    assert where_loaded(5 * GB, 5 * GB) == "5.0 GB in VRAM"
    assert where_loaded(5 * GB, 0) == "5.0 GB on CPU"
    assert where_loaded(11 * GB, 8 * GB) == "11.0 GB, 8.0 GB in VRAM"
    assert where_loaded(5 * GB, None) == "loaded 5.0 GB"


def test_the_compact_header_puts_traffic_before_the_pins() -> None:
    wide, compact = summary_text(SNAPSHOT, compact=False).plain, summary_text(SNAPSHOT, compact=True).plain
    assert wide == "policy adaptive · pins code→coder* · 7.4 req/s · err 2.1% · 2 changed*"
    assert compact == "adaptive · 7.4/s · err 2.1% · 2 changed* · pins code→coder*"


def test_the_header_says_the_shed_rate_beside_the_error_rate_while_requests_are_shed() -> None:
    shedding = dataclasses.replace(SNAPSHOT, shed_rate=0.03)
    assert summary_text(shedding, compact=False).plain.endswith(" · 7.4 req/s · err 2.1% · shed 3.0% · 2 changed*")
    assert summary_text(shedding, compact=True).plain.startswith("adaptive · 7.4/s · err 2.1% · shed 3.0% · 2 changed*")


def test_a_card_names_every_state_that_applies() -> None:
    both = dataclasses.replace(
        SNAPSHOT.endpoints[0], status=EndpointStatus.DRAINED, states=(EndpointStatus.DRAINED, EndpointStatus.EJECTED),
        status_reason="drained by the operator; ejected by the operator",
    )  # fmt: skip
    assert status_text(both).plain == "DRAINED + EJECTED drained by the operator; ejected by the operator"


def test_a_card_beside_up_or_degraded_names_the_last_cold_load_its_latency_figures_leave_out() -> None:
    up = dataclasses.replace(SNAPSHOT.endpoints[0], status_reason="ollama 0.32.15", last_cold_load_s=8.09)
    assert status_text(up).plain == "UP ollama 0.32.15 · cold load 8.09s"
    degraded = dataclasses.replace(
        up, status=EndpointStatus.DEGRADED, states=(EndpointStatus.DEGRADED,), status_reason="TTFT p95 2.40 s > 2 s"
    )
    assert status_text(degraded).plain == "DEGRADED TTFT p95 2.40 s > 2 s · cold load 8.09s"
    ejected = dataclasses.replace(up, status=EndpointStatus.EJECTED, states=(EndpointStatus.EJECTED,), status_reason="3 failures")
    assert status_text(ejected).plain == "EJECTED 3 failures"  # what matters there is why it is out
