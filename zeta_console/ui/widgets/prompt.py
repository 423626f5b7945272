"""The prompt pane: the conversation's transcript above a multi-line input that submits on Enter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import Collapsible, Static, TextArea

from zeta_console.router.api import Decision
from zeta_console.settings import Task

PREFIXES: dict[str, Task] = {
    "/code": Task.CODE,
    "/reason": Task.COMPLEX_REASONING,
    "/simple": Task.SIMPLE,
    "/embed": Task.EMBEDDING,
}
NEW_CONVERSATION = "/new"
HINT = (
    "The conversation keeps its context: /new or ctrl+n starts afresh. "
    "/code /reason /simple /embed force a task; ↑/↓ recall prompts; Esc cancels."
)


def split_prefix(text: str) -> tuple[Task | None, str]:
    """`/code fix this` -> (Task.CODE, "fix this"); no known prefix -> (None, text)."""
    head, _, rest = text.strip().partition(" ")
    task = PREFIXES.get(head.lower())
    return (task, rest.strip()) if task is not None else (None, text.strip())


def split_new_conversation(text: str) -> tuple[bool, str]:
    """`/new what next` -> (True, "what next"): start a new conversation, then send the rest (if any)."""
    head, _, rest = text.strip().partition(" ")
    return (True, rest.strip()) if head.lower() == NEW_CONVERSATION else (False, text.strip())


class PromptInput(TextArea):
    """Enter sends, ctrl+j inserts a newline; up/down walk the history from the first/last line."""

    BINDINGS = [
        Binding("enter", "submit", "Send", id="prompt.send", priority=True),
        Binding("ctrl+j", "newline", "Newline", id="prompt.newline", priority=True),
        Binding("up", "history(-1)", "Previous prompt", id="prompt.history_previous", show=False),
        Binding("down", "history(1)", "Next prompt", id="prompt.history_next", show=False),
    ]

    @dataclass
    class Submitted(Message):
        prompt_input: PromptInput
        text: str

        @property
        def control(self) -> PromptInput:
            return self.prompt_input

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(show_line_numbers=False, soft_wrap=True, tab_behavior="focus", **kwargs)
        self.prompt_history: list[str] = []
        self._history_index = 0
        self._draft = ""  # what was typed before walking the history, given back at its end

    # Enter and ctrl+j are priority bindings (TextArea would take them as text), so their actions run in
    # the App's key handler while keys typed just before them may still wait in this widget's queue: a
    # burst such as tmux's `send-keys "text" Enter` lost its Enter. Queueing the action behind them keeps
    # the order the keys were typed in.
    def action_submit(self) -> None:
        self.call_later(self._submit)

    def action_newline(self) -> None:
        self.call_later(self.insert, "\n")

    def _submit(self) -> None:
        text = self.text.strip()
        if not text:
            return
        if not self.prompt_history or self.prompt_history[-1] != text:
            self.prompt_history.append(text)
        self._history_index = len(self.prompt_history)
        self._draft = ""
        self.clear()
        self.post_message(self.Submitted(self, text))

    def action_history(self, step: int) -> None:
        row, _ = self.cursor_location
        at_edge = row == 0 if step < 0 else row == self.document.line_count - 1
        if not at_edge or not self.prompt_history:
            if step < 0:
                self.action_cursor_up()
            else:
                self.action_cursor_down()
            return
        end = len(self.prompt_history)
        if self._history_index == end:
            self._draft = self.text
        self._history_index = max(0, min(end, self._history_index + step))
        self.text = self.prompt_history[self._history_index] if self._history_index < end else self._draft
        self.move_cursor(self.document.end)


def route_label(decision: Decision) -> Content:
    """`→ qwen3:14b @ reasoner@local · complex_reasoning 0.66 · why`: one line, cut at the pane's edge."""
    model = next((c.model for c in decision.candidates if c.endpoint == decision.chosen), None)
    who = Content.assemble((model, "bold"), f" @ {decision.chosen}") if model else Content(decision.chosen or "not routed")
    classification = decision.classification
    task = f" · {classification.task.value} {classification.confidence:.2f} · "
    return Content.assemble(("→ ", "$accent"), who, (task, "$text-muted"), decision.reason)


class Turn(Vertical):
    """One exchange: the prompt, who answered and why, the thinking (folded), the answer.

    It keeps its parts, so a stream still running when its conversation is cleared writes into
    detached widgets instead of failing to find them.
    """

    def __init__(self, prompt: str, forced: Task | None) -> None:
        super().__init__(classes="turn")
        self.prompt_text = prompt
        self._route = Static(f"forced {forced.value}…" if forced else "classifying…", classes="turn-route")
        self._thinking = Static(classes="turn-thinking-text")
        self._fold = Collapsible(self._thinking, title="thinking", collapsed=True, classes="turn-thinking")
        self._fold.display = False
        self._answer = Static(classes="turn-answer")

    def compose(self) -> ComposeResult:
        yield Static(Content.assemble(("› ", "$accent"), self.prompt_text), classes="turn-prompt")
        yield self._route
        yield self._fold
        yield self._answer

    @property
    def route_text(self) -> str:
        return str(self._route.content)

    @property
    def thinking_text(self) -> str:
        return str(self._thinking.content)

    @property
    def answer_text(self) -> str:
        return str(self._answer.content)

    def routed(self, decision: Decision) -> None:
        self._route.update(route_label(decision))
        self._route.tooltip = decision.reason  # the label is cut at the pane's edge; the whole reason on hover

    def show_thinking(self, text: str) -> None:
        self._fold.display = True
        self._thinking.update(text)

    def show_answer(self, text: str, note: str = "") -> None:
        content = Content(text)
        if note:
            content += Content.styled(f" {note}", "bold $warning")
        self._answer.update(content)


class Transcript(VerticalScroll):
    """The conversation so far; it follows the newest text only while the reader is at the bottom."""

    def compose(self) -> ComposeResult:
        yield Static(HINT, classes="transcript-hint")

    def on_mount(self) -> None:
        # anchored: scrolls with new content until the reader scrolls up, and again once they are back at the end
        self.anchor()

    @property
    def turns(self) -> list[Turn]:
        return list(self.query_children(Turn))

    async def add_turn(self, prompt: str, forced: Task | None) -> Turn:
        turn = Turn(prompt, forced)
        await self.mount(turn)
        return turn

    def clear_turns(self) -> None:
        self.query_children(Turn).remove()
        self.anchor()  # a new conversation follows its tail, wherever the reader had scrolled to


class PromptPane(Vertical):
    def compose(self) -> ComposeResult:
        yield Transcript(id="transcript")
        yield PromptInput(id="prompt-input")
