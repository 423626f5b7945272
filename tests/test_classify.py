"""Task classification: rules table, explicit task, semantic fallback through an injected embed."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import Sequence

import pytest

from zeta_console.router.classify import Classifier, classify_rules
from zeta_console.settings import Classifier as ClassifierSettings
from zeta_console.settings import Settings, Task

RULES_TABLE = [
    ("hello, how are you", Task.SIMPLE),
    ("what is the capital of France", Task.SIMPLE),
    ("translate good morning to Spanish", Task.SIMPLE),
    ("I have a meeting on 2024-05-01, remind me", Task.SIMPLE),
    ("write a python function to reverse a list", Task.CODE),
    ("fix this bug in my javascript code", Task.CODE),
    ("Explain this SQL query: SELECT name FROM users WHERE id = 3", Task.CODE),
    ("```\ndef f(x):\n    return x\n```\nwhat does this do?", Task.CODE),
    ('Traceback (most recent call last):\n  File "a.py", line 1\nValueError: bad value', Task.CODE),
    ("what's the best c++ compiler?", Task.CODE),
    ("prove that there are infinitely many primes", Task.COMPLEX_REASONING),
    ("compare the trade-offs of these two system designs step by step", Task.COMPLEX_REASONING),
    ("plan a migration strategy and justify each step", Task.COMPLEX_REASONING),
    ("Why does inflation rise when interest rates fall? What are the consequences for savers?", Task.COMPLEX_REASONING),
    ("Compute the integral of x^2 from 0 to 3", Task.COMPLEX_REASONING),
]


@pytest.mark.parametrize(("prompt", "task"), RULES_TABLE)
def test_rules_table(prompt: str, task: Task) -> None:
    result = classify_rules(prompt)
    assert result.task == task, result.reason
    assert 0.0 <= result.confidence <= 1.0
    assert result.method == "rules" and result.reason


def test_the_reason_names_the_cues() -> None:
    assert classify_rules("```\nprint(1)\n```").reason.startswith("code cues: code fence")
    assert classify_rules("explain this SQL query").reason == "code cues: sql, query; reasoning cues: explain"
    assert classify_rules("prove it step by step").reason == "reasoning cues: prove, step by step"
    assert classify_rules("hi there").reason == "greeting, no code or reasoning cues"
    assert classify_rules("hi there", has_images=True).reason.endswith("; image attached")


def test_more_cues_mean_more_confidence() -> None:
    weak = classify_rules("why is the sky blue")
    strong = classify_rules("why is the sky blue? prove it rigorously, step by step, and compare with the sunset")
    assert weak.task == strong.task == Task.COMPLEX_REASONING
    assert weak.confidence < strong.confidence


def test_code_at_the_end_of_a_very_long_prompt_is_seen() -> None:
    prompt = "please have a look at the following notes. " * 500 + "\n```\nint main() { return 0; }\n```"
    assert classify_rules(prompt).task == Task.CODE


# Misroutes a newcomer found in the English-only rules: quick arithmetic and one-step equations
# went to the reasoner, the Chinese "explain in detail why" question to simple, a career question
# naming two languages and a request that refuses code to the code tier.
MISROUTES = [
    ("what is 17 * 23?", Task.SIMPLE),
    ("Solve for x: 2x + 3 = 11", Task.SIMPLE),
    ("为什么天空是蓝色的？请详细解释…", Task.COMPLEX_REASONING),
    ("Why is the sky blue? Please explain in detail…", Task.COMPLEX_REASONING),
    ("Should I learn Rust or Go? Explain your reasoning carefully.", Task.COMPLEX_REASONING),
    ("Don't write any code, just tell me what a linked list is", Task.SIMPLE),
]


@pytest.mark.parametrize(("prompt", "task"), MISROUTES)
def test_the_newcomers_misroutes(prompt: str, task: Task) -> None:
    assert classify_rules(prompt).task == task, classify_rules(prompt).reason


def test_cues_in_other_languages_and_their_reasons() -> None:
    negated = classify_rules("Schreib keinen Code, erklär mir nur, was eine verkettete Liste ist.")
    assert negated.reason.startswith("simple cues: no code wanted")
    assert classify_rules("用Python写一个函数，判断一个数是不是质数。").reason.startswith("code cues: python, 函数")
    assert classify_rules("Démontre que racine de 2 est irrationnelle.").reason == "reasoning cues: démontre"
    assert classify_rules("Resuelve para x: 5x - 10 = 0").reason == "simple cues: 5x - 10 = 0"


def test_a_negated_request_still_counts_the_code_it_shows() -> None:
    prompt = "no code review needed, just run it:\n```\nprint(1)\n```"
    assert classify_rules(prompt).task == Task.CODE

VOCABULARY = ("prime", "proof", "reverse", "list", "python", "capital", "hello", "weather", "rain")


class FakeEmbed:
    """Deterministic embeddings: counts of a few words. Records every call."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[list[str]] = []
        self.fail = fail

    async def __call__(self, texts: list[str]) -> Sequence[Sequence[float]]:
        self.calls.append(list(texts))
        await asyncio.sleep(0)  # let concurrent callers interleave, like a real embed request
        if self.fail:
            raise ConnectionError("embedder down")
        return [[float(len(re.findall(word, text.lower()))) + 0.01 for word in VOCABULARY] for text in texts]


EXAMPLES = {
    Task.SIMPLE: ("hello there", "will it rain, what is the weather"),
    Task.CODE: ("reverse a list in python",),
    Task.COMPLEX_REASONING: ("a proof about every prime",),
}
UNSURE = (
    "my grandmother keeps telling me a long story about a prime number she found and how she found it"
    " all by herself last summer while walking in the park with her old dog near the lake"
)


def semantic_settings(semantic: bool = True) -> Settings:
    return dataclasses.replace(Settings(), classifier=ClassifierSettings(semantic=semantic, confidence_threshold=0.6, examples=EXAMPLES))


def test_the_unsure_prompt_is_unsure() -> None:
    assert classify_rules(UNSURE).confidence < 0.6


async def test_explicit_task_always_wins() -> None:
    embed = FakeEmbed(fail=True)
    result = await Classifier(semantic_settings(), embed).classify(UNSURE, task=Task.CODE)
    assert (result.task, result.confidence, result.method) == (Task.CODE, 1.0, "explicit")
    assert embed.calls == []


async def test_semantic_is_used_only_when_the_rules_are_unsure() -> None:
    embed = FakeEmbed()
    classifier = Classifier(semantic_settings(), embed)
    sure = await classifier.classify("write a python function to reverse a list")
    assert sure.method == "rules" and embed.calls == []

    unsure = await classifier.classify(UNSURE)
    assert (unsure.task, unsure.method) == (Task.COMPLEX_REASONING, "semantic")
    assert unsure.reason.startswith('nearest example "a proof about every prime" (similarity 0.')
    assert 0.0 <= unsure.confidence <= 1.0
    assert embed.calls[-1] == [UNSURE]


async def test_semantic_off_means_rules_only() -> None:
    embed = FakeEmbed()
    result = await Classifier(semantic_settings(semantic=False), embed).classify(UNSURE)
    assert result == classify_rules(UNSURE)
    assert embed.calls == []


async def test_examples_are_embedded_once_even_for_concurrent_callers() -> None:
    embed = FakeEmbed()
    classifier = Classifier(semantic_settings(), embed)
    results = await asyncio.gather(*(classifier.classify(UNSURE) for _ in range(5)))
    await classifier.classify(UNSURE)
    assert {result.method for result in results} == {"semantic"}
    example_calls = [call for call in embed.calls if len(call) > 1]
    assert example_calls == [["hello there", "will it rain, what is the weather", "reverse a list in python", "a proof about every prime"]]
    assert len(embed.calls) == 1 + 6


async def test_a_failing_embedder_falls_back_to_the_rules_and_is_retried_later() -> None:
    embed = FakeEmbed(fail=True)
    classifier = Classifier(semantic_settings(), embed)
    result = await classifier.classify(UNSURE)
    by_rules = classify_rules(UNSURE)
    assert (result.task, result.confidence, result.method) == (by_rules.task, by_rules.confidence, "rules")
    assert result.reason == f"{by_rules.reason}; semantic classifier failed: embedder down"

    embed.fail = False
    assert (await classifier.classify(UNSURE)).method == "semantic"
