"""Parameter sizes as Ollama shows them ("137M", "8.0B", "1.2T")."""

from __future__ import annotations

import re

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMBT])\s*$", re.IGNORECASE)
_SCALE = {"K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}


def parameter_count(parameter_size: str) -> int | None:
    """The number of parameters `parameter_size` stands for; None when it is not such a size."""
    match = _SIZE.match(parameter_size)
    return int(float(match.group(1)) * _SCALE[match.group(2).upper()]) if match else None
