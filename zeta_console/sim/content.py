"""Deterministic synthetic output: text that is obviously simulated, and embeddings.

Text is seeded from the model name and the prompt, so the same request always gets the same
answer. Embeddings hash words into signed features (the "hashing trick"), so texts that share
words have a higher cosine similarity than unrelated texts; that is enough to test a semantic
classifier without a model.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
import zlib
from dataclasses import dataclass, field
from functools import lru_cache

ANSWER_TOKENS = (30, 120)  # range of answer lengths (tokens) when nothing limits them
CHAT_TOKENS_PER_MESSAGE = 4  # role markers of the chat template
HEAD_CHARS = 32  # of a prompt block's text, kept to show what a slot's cache holds
_FILLER = (
    "synthetic", "placeholder", "emulated", "token", "stream", "sample", "output", "text", "lorem", "ipsum",
    "dolor", "sit", "amet", "alpha", "beta", "gamma", "delta", "step", "result", "value",
)
_WORD = re.compile(r"\w+")
# Each word sets one feature in each of these leading ranges (the last one is the full vector), so
# a Matryoshka-style prefix (`dimensions`) still carries every word.
_FEATURE_RANGES = (32, 256, 1024)


def count_tokens(text: str) -> int:
    """Roughly four characters per token, like BPE on English text."""
    return (len(text) + 3) // 4


def chat_prompt_tokens(contents: list[str]) -> int:
    return sum(count_tokens(content) + CHAT_TOKENS_PER_MESSAGE for content in contents)


@dataclass(frozen=True)
class PromptBlock:
    """One piece of a prompt as a slot's prompt cache compares it (a chat message, a generate
    prompt): equal blocks in the same position are served from the cache."""

    digest: int  # hash of the role and the text: equality is all the cache needs
    tokens: int
    head: str = field(default="", compare=False)  # the text's start, to show what a slot holds

    @classmethod
    def of(cls, role: str, text: str, overhead: int = 0) -> PromptBlock:
        return cls(hash((role, text)), count_tokens(text) + overhead, text[:HEAD_CHARS])


def chat_blocks(messages: list[tuple[str, str]]) -> tuple[PromptBlock, ...]:
    """(role, content) pairs as cache blocks; their tokens sum to `chat_prompt_tokens` of the contents."""
    return tuple(PromptBlock.of(role, content, CHAT_TOKENS_PER_MESSAGE) for role, content in messages)


def assistant_block(content: str) -> PromptBlock:
    """The answer a slot generated, as the next turn of the conversation sends it back."""
    return PromptBlock.of("assistant", content, CHAT_TOKENS_PER_MESSAGE)


@dataclass(frozen=True)
class Completion:
    """What a request will produce, token by token: reasoning first, then the answer."""

    thinking: tuple[str, ...]
    content: tuple[str, ...]
    done_reason: str  # "stop" or "length"


def _seeded_random(model: str, prompt: str, seed: int) -> random.Random:
    return random.Random(zlib.crc32(f"{seed}\0{model}\0{prompt}".encode()))


def _words(rng: random.Random, prompt: str, count: int) -> list[str]:
    vocabulary = list(_FILLER) + _WORD.findall(prompt.lower())[:40]
    return [" " + rng.choice(vocabulary) for _ in range(count)]


def _cut_at_stop(tokens: list[str], stop: tuple[str, ...]) -> list[str] | None:
    """The tokens before the earliest stop sequence (the last one trimmed), or None if none occurs."""
    text = "".join(tokens)
    positions = [position for position in (text.find(sequence) for sequence in stop if sequence) if position >= 0]
    if not positions:
        return None
    end = min(positions)
    kept: list[str] = []
    length = 0
    for token in tokens:
        if length + len(token) > end:
            if end > length:
                kept.append(token[: end - length])
            break
        kept.append(token)
        length += len(token)
    return kept


def plan_completion(
    model: str,
    prompt: str,
    *,
    seed: int,
    thinking_tokens: int,
    num_predict: int | None,
    stop: tuple[str, ...] = (),
) -> Completion:
    rng = _seeded_random(model, prompt, seed)
    thinking: list[str] = []
    if thinking_tokens > 0:
        thinking = [f"[simulated reasoning of {model}]"] + _words(rng, prompt, max(1, round(thinking_tokens * rng.uniform(0.5, 1.5))) - 1)
    content = [f"[simulated {model}]"] + _words(rng, prompt, rng.randint(*ANSWER_TOKENS) - 1)
    done_reason = "stop"
    if num_predict is not None and num_predict >= 0 and len(thinking) + len(content) > num_predict:
        thinking, content = thinking[:num_predict], content[: max(0, num_predict - len(thinking))]
        done_reason = "length"
    stopped = _cut_at_stop(content, stop)
    if stopped is not None:
        content, done_reason = stopped, "stop"
    return Completion(tuple(thinking), tuple(content), done_reason)


@lru_cache(maxsize=65536)
def _word_features(word: str, dimensions: int) -> tuple[tuple[int, float], ...]:
    digest = hashlib.blake2b(word.encode(), digest_size=16).digest()
    features = []
    for position, size in enumerate((*_FEATURE_RANGES, dimensions)):
        value = int.from_bytes(digest[4 * position : 4 * position + 4], "little")
        features.append((value % min(size, dimensions), 1.0 if value & 0x80000000 else -1.0))
    return tuple(features)


def _sparse_features(text: str, dimensions: int) -> dict[int, float]:
    words = _WORD.findall(text.lower()) or [text]
    vector: dict[int, float] = {}
    for word in words:
        for index, sign in _word_features(word, dimensions):
            vector[index] = vector.get(index, 0.0) + sign
    return vector


def embedding(text: str, native_dimensions: int, dimensions: int | None = None, *, normalise: bool = True) -> list[float]:
    """The vector for `text`: L2-normalised, optionally cut to its first `dimensions` values."""
    size = dimensions if dimensions and 0 < dimensions < native_dimensions else native_dimensions
    sparse = {index: value for index, value in _sparse_features(text, native_dimensions).items() if index < size and value}
    if not sparse:
        sparse = {0: 1.0}
    scale = 1.0 / math.sqrt(sum(value * value for value in sparse.values())) if normalise else 1.0
    vector = [0.0] * size
    for index, value in sparse.items():
        vector[index] = value * scale
    return vector
