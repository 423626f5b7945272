"""Injected faults: per model, switched on and off from Python, HTTP or a scenario."""

from __future__ import annotations

import random
from dataclasses import dataclass, fields
from typing import Any

RUNNER_STOPPED = (
    "model runner has unexpectedly stopped, this may be due to resource limitations or an internal error, "
    "check ollama server logs for details"
)
SERVER_BUSY = "server busy, please try again.  maximum pending requests exceeded"
_WHOLE_NUMBER_FIELDS = ("fail_after_chunks", "busy_burst")


@dataclass
class Fault:
    slow_factor: float = 1.0  # every delay (load, prefill, decode) is multiplied by this
    error_rate: float = 0.0  # share of requests answered 500 "model runner has unexpectedly stopped"
    fail_after_chunks: int | None = None  # the stream breaks with an error line after N chunks
    stall_s: float = 0.0  # simulated seconds of silence before the first token
    drop_connection: bool = False  # the socket is cut (after fail_after_chunks chunks, else at once)
    busy_burst: int = 0  # the next N requests get 503 "server busy"
    straggle_rate: float = 0.0  # share of requests (seeded draws) whose prefill, so their first token, is slow ...
    straggle_factor: float = 10.0  # ... by this factor (a straggler: the same server answers the others at full speed)

    def __post_init__(self) -> None:
        if self.slow_factor <= 0:
            raise ValueError("slow_factor must be > 0")
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError("error_rate must be between 0 and 1")
        if self.fail_after_chunks is not None and self.fail_after_chunks < 0:
            raise ValueError("fail_after_chunks must be >= 0")
        if self.stall_s < 0 or self.busy_burst < 0:
            raise ValueError("stall_s and busy_burst must be >= 0")
        if not 0.0 <= self.straggle_rate <= 1.0:
            raise ValueError("straggle_rate must be between 0 and 1")
        if self.straggle_factor < 1:
            raise ValueError("straggle_factor must be >= 1")

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> Fault:
        """A Fault from JSON/YAML fields; unknown keys and wrong types raise ValueError."""
        known = {field.name: field for field in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"unknown fault field(s): {', '.join(unknown)} (expected: {', '.join(known)})")
        checked: dict[str, Any] = {}
        for name, value in values.items():
            if name == "drop_connection":
                if not isinstance(value, bool):
                    raise ValueError(f"{name} must be true or false")
            elif name == "fail_after_chunks" and value is None:
                pass
            elif isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{name} must be a number")
            elif name in _WHOLE_NUMBER_FIELDS:
                if value != int(value):
                    raise ValueError(f"{name} must be a whole number")
                value = int(value)
            checked[name] = value
        return cls(**checked)


@dataclass(frozen=True)
class RequestFaults:
    """What one admitted request will suffer, decided when it arrives."""

    slow_factor: float = 1.0
    fail_now: bool = False
    fail_after_chunks: int | None = None
    stall_s: float = 0.0
    drop_connection: bool = False
    prefill_factor: float = 1.0  # a straggler's slower prefill


class FaultBook:
    """The faults in force on one host, by model name; error_rate draws from a seeded RNG."""

    def __init__(self, seed: int) -> None:
        self._faults: dict[str, Fault] = {}
        self._random = random.Random(seed)

    def set(self, model: str, fault: Fault) -> None:
        self._faults[model] = fault

    def clear(self, model: str | None = None) -> None:
        if model is None:
            self._faults.clear()
        else:
            self._faults.pop(model, None)

    def get(self, model: str) -> Fault | None:
        return self._faults.get(model)

    def take_busy(self, model: str) -> bool:
        """True (and one fewer left) if this request falls in a 503 burst."""
        fault = self._faults.get(model)
        if fault is None or fault.busy_burst <= 0:
            return False
        fault.busy_burst -= 1
        return True

    def for_request(self, model: str) -> RequestFaults:
        fault = self._faults.get(model)
        if fault is None:
            return RequestFaults()
        return RequestFaults(
            slow_factor=fault.slow_factor,
            fail_now=fault.error_rate > 0 and self._random.random() < fault.error_rate,
            fail_after_chunks=fault.fail_after_chunks,
            stall_s=fault.stall_s,
            drop_connection=fault.drop_connection,
            prefill_factor=fault.straggle_factor if fault.straggle_rate > 0 and self._random.random() < fault.straggle_rate else 1.0,
        )
