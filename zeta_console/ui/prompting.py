"""The operator's conversation: each turn goes through the router with the context so far, streamed into the transcript."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field

from zeta_console.router.api import Decision, Router
from zeta_console.router.requests import ChatRequest, EmbedRequest
from zeta_console.settings import Task
from zeta_console.ui.widgets.prompt import Transcript, split_prefix

CANCELLED_MARK = "[cancelled]"
FAILED_MARK = "[failed]"
CLIENT = "prompt"


@dataclass
class Conversation:
    """The prompt pane's context: the turns answered in full, as chat messages, oldest first.

    A cancelled or failed turn stays in the transcript but not in the context, and so do
    embeddings, which are not chat. Every turn names the conversation as its session, so the
    router sends it back to the endpoint whose prompt cache holds the context, load permitting.
    """

    messages: list[dict[str, str]] = field(default_factory=list)
    session: str = field(default_factory=lambda: f"prompt-{uuid.uuid4().hex[:12]}")

    def request(self, prompt: str, task: Task | None) -> ChatRequest:
        messages = [*self.messages, {"role": "user", "content": prompt}]
        return ChatRequest(messages=messages, task=task, client=CLIENT, interactive=True, session=self.session)

    def remember(self, prompt: str, answer: str) -> None:
        self.messages += [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]


async def run_prompt(router: Router, conversation: Conversation, text: str, transcript: Transcript) -> None:
    task, body = split_prefix(text)
    turn = await transcript.add_turn(body, task)
    if task is Task.EMBEDDING:
        result = await router.embed(EmbedRequest(input=body, client=CLIENT, interactive=True))
        turn.routed(result.decision)
        vector = result.response.embeddings[0] if result.response.embeddings else []
        head = ", ".join(f"{value:.4f}" for value in vector[:6])
        turn.show_answer(f"{len(vector)}-dimensional embedding: [{head}{', …' if len(vector) > 6 else ''}]")
        return
    stream = router.chat(conversation.request(body, task))
    answer: list[str] = []
    thinking: list[str] = []
    shown: Decision | None = None
    try:
        async for delta in stream:
            if stream.decision is not None and stream.decision is not shown:  # first delta, or a failover before it
                shown = stream.decision
                turn.routed(shown)
            if delta.thinking:
                thinking.append(delta.thinking)
                turn.show_thinking("".join(thinking))
            if delta.content:
                answer.append(delta.content)
                turn.show_answer("".join(answer))
    except asyncio.CancelledError:
        turn.show_answer("".join(answer), CANCELLED_MARK)
        await asyncio.shield(stream.aclose())
        raise
    except Exception as error:
        turn.show_answer("".join(answer), f"{FAILED_MARK} {error}")  # a request tried on several endpoints names each and why
        if stream.decision is not None:
            turn.routed(stream.decision)
        raise
    if answer:
        conversation.remember(body, "".join(answer))
    else:
        turn.show_answer("(empty answer)")
