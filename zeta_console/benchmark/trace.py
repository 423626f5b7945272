"""Seeded arrival traces: Poisson arrivals per task type, with prompt and output sizes, and
multi-turn conversations whose later turns follow their previous turn's answer.

A trace is a pure function of its spec and seed, so every contender in a benchmark run (each
policy, LiteLLM) is replayed against exactly the same requests at the same instants.
Times are scenario seconds; the runner divides them by the emulator's time scale.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, replace

from zeta_console.settings import Task


@dataclass(frozen=True)
class TokenRange:
    """Sizes are drawn log-uniformly between `low` and `high` (inclusive)."""

    low: int
    high: int

    def draw(self, rng: random.Random) -> int:
        if self.low == self.high:
            return self.low
        return round(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))


@dataclass(frozen=True)
class TaskSizes:
    prompt_tokens: TokenRange
    output_tokens: TokenRange


DEFAULT_SIZES: Mapping[Task, TaskSizes] = {
    Task.SIMPLE: TaskSizes(TokenRange(20, 120), TokenRange(30, 200)),
    Task.CODE: TaskSizes(TokenRange(100, 800), TokenRange(100, 500)),
    Task.COMPLEX_REASONING: TaskSizes(TokenRange(100, 600), TokenRange(200, 600)),
    Task.EMBEDDING: TaskSizes(TokenRange(20, 400), TokenRange(0, 0)),
}


@dataclass(frozen=True)
class TrafficPhase:
    """Between `start_s` and `end_s`, each task arrives as a Poisson process of its rate."""

    start_s: float
    end_s: float
    rates_per_s: Mapping[Task, float]


@dataclass(frozen=True)
class ConversationPlan:
    """`count` chats whose first turns arrive at uniform random instants in `start_s`..`end_s`; each has
    a system prompt, then `turns` questions, each sent `think_s` after the previous answer ended,
    so the context grows by a question and an answer per turn."""

    count: int
    start_s: float
    end_s: float
    task: Task
    turns: TokenRange  # drawn like a size: [low, high]
    system_tokens: TokenRange
    question_tokens: TokenRange
    output_tokens: TokenRange
    think_s: tuple[float, float]  # uniform


@dataclass(frozen=True)
class TraceRequest:
    index: int  # position in arrival order
    at_s: float  # scenario seconds since the start (a later turn of a chat: nominal, it follows its answer)
    task: Task
    prompt_tokens: int  # a conversation turn: the new question only
    output_tokens: int
    conversation: int | None = None  # which chat this turn belongs to
    turn: int = 0  # 0 = the chat's first turn
    follows: int | None = None  # index of the previous turn, whose answer this one waits for ...
    think_s: float = 0.0  # ... plus this pause
    system_tokens: int = 0  # the chat's system prompt (first turn only)

    @property
    def request_id(self) -> str:
        return f"bench-{self.index:05d}"


def generate_trace(
    phases: tuple[TrafficPhase, ...],
    seed: int,
    sizes: Mapping[Task, TaskSizes] = DEFAULT_SIZES,
    conversations: ConversationPlan | None = None,
) -> tuple[TraceRequest, ...]:
    rng = random.Random(seed)
    arrivals: list[tuple[float, Task, int, int]] = []
    for phase in phases:
        for task in sorted(phase.rates_per_s):  # fixed order: the draws must not depend on dict order
            rate = phase.rates_per_s[task]
            if rate <= 0:
                continue
            at = phase.start_s + rng.expovariate(rate)
            while at < phase.end_s:
                task_sizes = sizes[task]
                arrivals.append((at, task, task_sizes.prompt_tokens.draw(rng), task_sizes.output_tokens.draw(rng)))
                at += rng.expovariate(rate)
    requests = [TraceRequest(0, round(at, 6), task, prompt_tokens, output_tokens) for at, task, prompt_tokens, output_tokens in arrivals]
    if conversations is not None:
        requests.extend(_conversation_turns(conversations, random.Random(seed + 1)))
    return _numbered(sorted(requests, key=lambda request: (request.at_s, request.turn)))


def _conversation_turns(plan: ConversationPlan, rng: random.Random) -> list[TraceRequest]:
    """Every turn of every chat, `follows` holding the chat's previous turn as (chat, turn) until numbered."""
    starts = sorted(rng.uniform(plan.start_s, plan.end_s) for _ in range(plan.count))
    turns: list[TraceRequest] = []
    for chat, nominal in enumerate(starts):
        system = plan.system_tokens.draw(rng)
        for turn in range(plan.turns.draw(rng)):
            think = rng.uniform(*plan.think_s) if turn else 0.0
            nominal += think
            question, output = plan.question_tokens.draw(rng), plan.output_tokens.draw(rng)
            opening = 0 if turn else system
            turns.append(TraceRequest(0, round(nominal, 6), plan.task, question, output, chat, turn, None, round(think, 6), opening))
    return turns


def _numbered(requests: list[TraceRequest]) -> tuple[TraceRequest, ...]:
    """Indices in arrival order; each later turn of a chat `follows` its previous turn's index."""
    last_turn: dict[int, int] = {}
    numbered = []
    for index, request in enumerate(requests):
        follows = last_turn.get(request.conversation) if request.conversation is not None and request.turn else None
        if request.conversation is not None:
            last_turn[request.conversation] = index
        numbered.append(replace(request, index=index, follows=follows))
    return tuple(numbered)
