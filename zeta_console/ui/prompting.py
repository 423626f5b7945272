"""Send the operator's prompt through the router and stream the answer into the prompt pane."""

from __future__ import annotations

import asyncio

from zeta_console.router.requests import ChatRequest, EmbedRequest
from zeta_console.settings import Task
from zeta_console.ui.session import ConsoleRouter
from zeta_console.ui.widgets.prompt import AnswerView, split_prefix

CANCELLED_MARK = "[cancelled]"


def chosen_model(decision: object) -> tuple[str, str]:
    """(endpoint, model) of a Decision, for the "answered by" line."""
    chosen = getattr(decision, "chosen", None) or "—"
    for candidate in getattr(decision, "candidates", ()):
        if candidate.endpoint == chosen:
            return chosen, candidate.model
    return chosen, "?"


async def run_prompt(router: ConsoleRouter, text: str, view: AnswerView) -> None:
    task, body = split_prefix(text)
    view.begin(body, task)
    if task is Task.EMBEDDING:
        result = await router.embed(EmbedRequest(input=body, client="prompt", interactive=True))
        endpoint, model = chosen_model(result.decision)
        view.routed(endpoint, model, result.decision.reason)
        vector = result.response.embeddings[0] if result.response.embeddings else []
        head = ", ".join(f"{value:.4f}" for value in vector[:6])
        view.show_answer(f"{len(vector)}-dimensional embedding: [{head}{', …' if len(vector) > 6 else ''}]")
        return
    request = ChatRequest(messages=[{"role": "user", "content": body}], task=task, client="prompt", interactive=True)
    stream = await router.chat(request)
    endpoint, model = chosen_model(stream.decision)
    view.routed(endpoint, model, stream.decision.reason)
    answer: list[str] = []
    thinking: list[str] = []
    try:
        async for chunk in stream:
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
    if not answer:
        view.show_answer("(empty answer)")
