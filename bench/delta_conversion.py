"""Cost of the backend seam per chunk: the Ollama backend's client chunks -> neutral Deltas.

Iterates a 50-chunk stream of ready-made `ollama.ChatResponse` objects (no I/O), bare and
through `backends.ollama._deltas` with `chat_delta`, the path every streamed chunk takes.
Reported: the best of several rounds, per stream and per chunk.

    python bench/delta_conversion.py [--streams 2000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import AsyncGenerator, Callable

import ollama

from zeta_console.backends.ollama import _deltas, chat_delta

CHUNKS = 50


def stream_chunks() -> list[ollama.ChatResponse]:
    text = [ollama.ChatResponse(model="m", message=ollama.Message(role="assistant", content=" word")) for _ in range(CHUNKS - 1)]
    final = ollama.ChatResponse(
        model="m", message=ollama.Message(role="assistant", content=""), done=True, done_reason="stop",
        total_duration=10**9, load_duration=10**6, prompt_eval_count=20, prompt_eval_duration=10**7, eval_count=49, eval_duration=9 * 10**8,
    )  # fmt: skip
    return [*text, final]


async def best_per_stream_s(open_stream: Callable[[], AsyncGenerator[object, None]], streams: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(streams):
            async for _ in open_stream():
                pass
        best = min(best, (time.perf_counter() - started) / streams)
    return best


async def measure(streams: int, rounds: int) -> tuple[float, float]:
    chunks = stream_chunks()

    async def bare() -> AsyncGenerator[ollama.ChatResponse, None]:
        for chunk in chunks:
            yield chunk

    bare_s = await best_per_stream_s(bare, streams, rounds)
    converted_s = await best_per_stream_s(lambda: _deltas(bare(), chat_delta), streams, rounds)
    return bare_s, converted_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    bare_s, converted_s = asyncio.run(measure(args.streams, args.rounds))
    added = converted_s - bare_s
    print(f"{CHUNKS}-chunk stream, best of {args.rounds} rounds of {args.streams}")
    per_chunk = added / CHUNKS * 1e6
    print(f"bare {bare_s * 1e6:.1f} µs, as deltas {converted_s * 1e6:.1f} µs:", end=" ")
    print(f"+{added * 1e6:.1f} µs per stream, +{per_chunk:.2f} µs per chunk")


if __name__ == "__main__":
    main()
