"""Prompt -> task type, with a confidence and a reason an operator can read.

Stage one of routing. The rules are precompiled regexes over the prompt (tens of
microseconds). When they are unsure and the semantic classifier is enabled, the prompt is
embedded through the embedder tier and compared with example prompts per task.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from zeta_console.router.api import Classification
from zeta_console.settings import Settings, Task

Embed = Callable[[list[str]], Awaitable[Sequence[Sequence[float]]]]

# Very long prompts are scanned at the head (the instructions) and the tail (where pasted
# code and error traces usually end up): cues are found without paying for the middle.
_SCAN_HEAD = 6000
_SCAN_TAIL = 2000


@dataclass(frozen=True)
class _Cues:
    """One family of cues, each found cue adding `weight`: whole words (a set lookup per
    word, much cheaper than a regex alternation) and/or a regex for phrases and symbols."""

    weight: float
    words: frozenset[str] = frozenset()
    pattern: re.Pattern[str] | None = None

    def find(self, lowered: str, words: Sequence[str]) -> list[str]:
        found = [word for word in words if word in self.words]
        if self.pattern is not None:
            found += [match.strip() for match in self.pattern.findall(lowered)]
        return list(dict.fromkeys(found))  # distinct, in order of appearance


_CODE_CUES = (
    _Cues(3.0, pattern=re.compile(r"```|traceback \(most recent|(?:error|exception): |#include\b|\b(?:def|fn|func|function) \w+\(|\bselect .{1,80}? from\b")),
    _Cues(1.0, words=frozenset((
        "python javascript typescript rust golang java kotlin swift ruby php haskell scala c++ c# sql bash html css regex"
        " json yaml dockerfile numpy pandas react django code function functions method class variable compile compiler"
        " debug refactor bug segfault script api endpoint query import return async git"
    ).split()), pattern=re.compile(r"\b(?:unit tests?|stack trace|shell script)\b")),
    _Cues(0.5, pattern=re.compile(r"`[^`\n]+`|\w\(\)|=>|->|!=|==|;\s*$|\{\s*$", re.MULTILINE)),
)
_REASONING_CUES = (
    _Cues(1.5, words=frozenset((
        "prove proof derive trade-off trade-offs tradeoff tradeoffs justify theorem lemma rigorous rigorously implication implications"
    ).split()), pattern=re.compile(r"\b(?:step by step|pros and cons|reason through)\b")),
    _Cues(0.75, words=frozenset((
        "why analyze analyse analysis compare comparison evaluate explain plan strategy design architecture assess argue"
        " consequence consequences optimize optimise calculate estimate"
    ).split()), pattern=re.compile(r"\bwhat if\b")),
    _Cues(1.0, words=frozenset("integral derivative equation probability matrix eigenvalue eigenvalues sqrt".split()), pattern=re.compile(r"[∑∫√π≤≥≠]")),
    _Cues(0.5, pattern=re.compile(r"\d\s*[+*/^=]\s*\d|\d\s+-\s+\d")),  # plain arithmetic: a weak cue on its own
)
_TOKEN = re.compile(r"[a-z][a-z0-9+#-]*")
_GREETING = re.compile(r"^\W*(?:hi|hello|hey|thanks|thank you|good (?:morning|evening|night)|how are you|bye)\b")
_ENUMERATION = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s+\S", re.MULTILINE)
_CUE_NAMES = {Task.CODE: "code cues", Task.COMPLEX_REASONING: "reasoning cues"}
_CUE_LABELS = {"```": "code fence", "traceback (most recent": "error trace", "error:": "error message", "exception:": "error message"}

_SHORT_WORDS = 12
_LONG_WORDS = 80


def classify_rules(prompt: str, *, has_images: bool = False) -> Classification:
    """Classify by surface cues: code, reasoning, or (neither) simple."""
    text = prompt if len(prompt) <= _SCAN_HEAD + _SCAN_TAIL else f"{prompt[:_SCAN_HEAD]}\n{prompt[-_SCAN_TAIL:]}"
    lowered = text.lower()
    tokens = _TOKEN.findall(lowered)
    code_score, code_cues = _score(lowered, tokens, _CODE_CUES)
    reasoning_score, reasoning_cues = _score(lowered, tokens, _REASONING_CUES)
    parts = max(lowered.count("?"), len(_ENUMERATION.findall(text)))
    if parts >= 2:
        reasoning_score += 1.0
        reasoning_cues.append(f"{parts}-part question")
    if len(tokens) > _LONG_WORDS:
        reasoning_score += 0.5
        reasoning_cues.append(f"long prompt ({len(tokens)} words)")
    images = "; image attached" if has_images else ""
    if code_score == reasoning_score == 0.0:
        return _simple(lowered, len(tokens), images)
    code = (Task.CODE, code_score, code_cues)
    reasoning = (Task.COMPLEX_REASONING, reasoning_score, reasoning_cues)
    (task, score, cues), (rival_task, rival_score, rival_cues) = (code, reasoning) if code_score >= reasoning_score else (reasoning, code)
    # Stronger cues raise confidence with diminishing returns; the rival's cues lower it.
    confidence = 0.3 + 0.68 * (1.0 - math.exp(-score)) * score / (score + rival_score)
    against = f"; {_CUE_NAMES[rival_task]}: {', '.join(rival_cues)}" if rival_cues else ""
    return Classification(task, round(confidence, 3), f"{_CUE_NAMES[task]}: {', '.join(cues)}{against}{images}", "rules")


def _score(lowered: str, tokens: Sequence[str], families: tuple[_Cues, ...]) -> tuple[float, list[str]]:
    score = 0.0
    cues: list[str] = []
    for family in families:
        found = family.find(lowered, tokens)
        score += family.weight * len(found)
        cues += [_CUE_LABELS.get(cue, cue) for cue in found]
    return score, cues


def _simple(lowered: str, words: int, images: str) -> Classification:
    if _GREETING.match(lowered) and words <= _SHORT_WORDS:
        return Classification(Task.SIMPLE, 0.95, f"greeting, no code or reasoning cues{images}", "rules")
    if words <= _SHORT_WORDS:
        return Classification(Task.SIMPLE, 0.85, f"short prompt ({words} words), no code or reasoning cues{images}", "rules")
    confidence = 0.65 if words <= 2 * _SHORT_WORDS else 0.5
    return Classification(Task.SIMPLE, confidence, f"no code or reasoning cues in {words} words{images}", "rules")


@dataclass(frozen=True)
class _Example:
    task: Task
    text: str
    unit_vector: tuple[float, ...]


class Classifier:
    """Explicit task, else rules, else (when the rules are unsure and enabled) the embedder."""

    def __init__(self, settings: Settings, embed: Embed | None = None) -> None:
        self.settings = settings.classifier
        self._embed = embed
        self._examples: asyncio.Future[list[_Example]] | None = None

    async def classify(self, prompt: str, *, task: Task | None = None, has_images: bool = False) -> Classification:
        if task is not None:
            return Classification(task, 1.0, f"explicit task {task}", "explicit")
        by_rules = classify_rules(prompt, has_images=has_images)
        if by_rules.confidence >= self.settings.confidence_threshold or not self.settings.semantic or self._embed is None:
            return by_rules
        try:
            return await self._classify_semantic(prompt, self._embed)
        except Exception as error:  # whatever went wrong with the embedder, the rules still answer
            detail = str(error) or type(error).__name__
            return Classification(by_rules.task, by_rules.confidence, f"{by_rules.reason}; semantic classifier failed: {detail}", "rules")

    async def _classify_semantic(self, prompt: str, embed: Embed) -> Classification:
        examples = await self._example_vectors(embed)
        (vector,) = await embed([prompt])
        prompt_unit = _unit(vector)
        comparable = [example for example in examples if len(example.unit_vector) == len(prompt_unit)]
        if not comparable:
            raise ValueError("the prompt's embedding has other dimensions than the examples'")
        similarity, nearest = max(((_dot(prompt_unit, example.unit_vector), example) for example in comparable), key=lambda pair: pair[0])
        confidence = round(min(1.0, max(0.0, similarity)), 3)
        return Classification(nearest.task, confidence, f'nearest example "{nearest.text}" (similarity {similarity:.2f})', "semantic")

    async def _example_vectors(self, embed: Embed) -> list[_Example]:
        """Embed the example prompts once; concurrent first callers share one embed call."""
        if self._examples is None:
            self._examples = asyncio.ensure_future(self._embed_examples(embed))
        try:
            return await asyncio.shield(self._examples)
        except Exception:
            self._examples = None  # try again on the next unsure prompt
            raise

    async def _embed_examples(self, embed: Embed) -> list[_Example]:
        labelled = [(task, text) for task, texts in self.settings.examples.items() if task != Task.EMBEDDING for text in texts]
        vectors = await embed([text for _, text in labelled])
        if len(vectors) != len(labelled):
            raise ValueError(f"embedder returned {len(vectors)} vectors for {len(labelled)} examples")
        return [_Example(task, text, _unit(vector)) for (task, text), vector in zip(labelled, vectors, strict=True)]


def _unit(vector: Sequence[float]) -> tuple[float, ...]:
    norm = math.sqrt(sum(value * value for value in vector))
    if norm == 0.0:
        raise ValueError("embedder returned a zero vector")
    return tuple(value / norm for value in vector)


def _dot(left: Sequence[float], right: Sequence[float]) -> float:
    return sum(a * b for a, b in zip(left, right, strict=True))
