"""The semantic classifier end to end: prompts embedded by the emulated embedder tier."""

from __future__ import annotations

from tests.router.routing import answer, ask, routed
from zeta_console.router.api import RequestRecord
from zeta_console.router.classify import classify_rules
from zeta_console.settings import Classifier, Task

EXAMPLES = {
    Task.SIMPLE: ("what is the weather like today, sunny or rainy",),
    Task.CODE: ("my kubernetes pod deployment yaml keeps crashing",),
    Task.COMPLEX_REASONING: ("weigh the utilitarian and deontological ethics of this philosophy",),
}
PROMPT = "tell me about utilitarian ethics in philosophy"


async def test_an_unsure_rule_defers_to_the_nearest_example_embedded_by_the_embedder() -> None:
    assert classify_rules(PROMPT).task is not Task.COMPLEX_REASONING  # the rules alone would get it wrong
    semantic = Classifier(semantic=True, confidence_threshold=0.99, examples=EXAMPLES)
    async with routed(classifier=semantic) as run:
        _, record = await answer(run.router, ask(PROMPT, think=False))
        classification = record.decision.classification
        assert (classification.task, classification.method) == (Task.COMPLEX_REASONING, "semantic")
        assert "utilitarian" in classification.reason
        assert record.endpoint == "reasoner@local"
        embedder_calls = [e for e in run.events if isinstance(e, RequestRecord) and e.decision.client == "classifier"]
        assert embedder_calls and all(call.endpoint == "embedder@local" for call in embedder_calls)


async def test_confident_rules_never_call_the_embedder() -> None:
    semantic = Classifier(semantic=True, confidence_threshold=0.5, examples=EXAMPLES)
    async with routed(classifier=semantic) as run:
        _, record = await answer(run.router, ask("write a python function to reverse a list"))
        assert record.decision.classification.method == "rules"
        assert not [e for e in run.events if isinstance(e, RequestRecord) and e.decision.client == "classifier"]
