"""Send the operator's prompt through the router and stream the answer into the prompt pane."""

from __future__ import annotations

import asyncio

from zeta_console.router.api import Decision
from zeta_console.router.requests import ChatRequest, EmbedRequest
from zeta_console.settings import Task
from zeta_console.ui.session import ConsoleRouter
from zeta_console.ui.widgets.prompt import AnswerView, split_prefix

CANCELLED_MARK = "[cancelled]"


def answered_by(decision: Decision) -> str:
    """`qwen3:14b @ reasoner@local`, or why nobody answered."""
    for candidate in decision.candidates:
        if candidate.endpoint == decision.chosen:
            return f"{candidate.model} @ {candidate.endpoint}"
    return decision.chosen or "not routed"


def show_route(view: AnswerView, decision: Decision) -> None:
    view.routed(answered_by(decision), decision.reason, decision.classification)


async def run_prompt(router: ConsoleRouter, text: str, view: AnswerView) -> None:
    task, body = split_prefix(text)
    view.begin(body, task)
    if task is Task.EMBEDDING:
        result = await router.embed(EmbedRequest(input=body, client="prompt", interactive=True))
        show_route(view, result.decision)
        vector = result.response.embeddings[0] if result.response.embeddings else []
        head = ", ".join(f"{value:.4f}" for value in vector[:6])
        view.show_answer(f"{len(vector)}-dimensional embedding: [{head}{', …' if len(vector) > 6 else ''}]")
        return
    request = ChatRequest(messages=[{"role": "user", "content": body}], task=task, client="prompt", interactive=True)
    stream = router.chat(request)
    answer: list[str] = []
    thinking: list[str] = []
    shown: Decision | None = None
    try:
        async for chunk in stream:
            if stream.decision is not None and stream.decision is not shown:  # first chunk, or a failover before it
                shown = stream.decision
                show_route(view, shown)
            message = chunk.message
            if message.thinking:
                thinking.append(message.thinking)
                view.show_thinking("".join(thinking))
            if message.content:
                answer.append(message.content)
                view.show_answer("".join(answer))
    except asyncio.CancelledError:
        view.show_answer("".join(answer), CANCELLED_MARK)
        await asyncio.shield(stream.aclose())
        raise
    except Exception as error:
        view.show_answer("".join(answer), f"[failed] {error}")  # a request tried on several endpoints names each and why
        if stream.decision is not None:
            show_route(view, stream.decision)
        raise
    if not answer:
        view.show_answer("(empty answer)")
