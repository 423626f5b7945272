"""The prompt pane: a multi-line input that submits on Enter, and the streamed answer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import Collapsible, Static, TextArea

from zeta_console.router.api import Classification
from zeta_console.settings import Task

PREFIXES: dict[str, Task] = {
    "/code": Task.CODE,
    "/reason": Task.COMPLEX_REASONING,
    "/simple": Task.SIMPLE,
    "/embed": Task.EMBEDDING,
}


def split_prefix(text: str) -> tuple[Task | None, str]:
    """`/code fix this` -> (Task.CODE, "fix this"); no known prefix -> (None, text)."""
    head, _, rest = text.strip().partition(" ")
    task = PREFIXES.get(head.lower())
    return (task, rest.strip()) if task is not None else (None, text.strip())


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

    def action_submit(self) -> None:
        text = self.text.strip()
        if not text:
            return
        if not self.prompt_history or self.prompt_history[-1] != text:
            self.prompt_history.append(text)
        self._history_index = len(self.prompt_history)
        self.clear()
        self.post_message(self.Submitted(self, text))

    def action_newline(self) -> None:
        self.insert("\n")

    def action_history(self, step: int) -> None:
        row, _ = self.cursor_location
        at_edge = row == 0 if step < 0 else row == self.document.line_count - 1
        if not at_edge or not self.prompt_history:
            if step < 0:
                self.action_cursor_up()
            else:
                self.action_cursor_down()
            return
        self._history_index = max(0, min(len(self.prompt_history), self._history_index + step))
        self.text = self.prompt_history[self._history_index] if self._history_index < len(self.prompt_history) else ""
        self.move_cursor(self.document.end)


class AnswerView(VerticalScroll):
    """The latest exchange: who answered and why, collapsed thinking, the answer text."""

    def compose(self) -> ComposeResult:
        yield Static("Type a prompt below. /code /reason /simple /embed force a task. Esc cancels.", id="answer-meta")
        with Collapsible(title="thinking", collapsed=True, id="thinking"):
            yield Static(id="thinking-text")
        yield Static(id="answer-text")

    def on_mount(self) -> None:
        self.query_one("#thinking", Collapsible).display = False

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._prompt = ""

    def begin(self, prompt: str, forced: Task | None) -> None:
        self._prompt = prompt
        self.query_one("#answer-meta", Static).update(self._labelled(f"forced {forced.value}" if forced else "classifying…"))
        self.query_one("#thinking", Collapsible).display = False
        self.query_one("#thinking-text", Static).update("")
        self.query_one("#answer-text", Static).update("")

    def routed(self, answered_by: str, reason: str, classification: Classification) -> None:
        """Who answers and why; the prompt's label now says how it was classified."""
        label = f"{classification.task.value} {classification.confidence:.2f}, {classification.method}"
        route = Content.assemble(("→ ", "$accent"), (answered_by, "bold"), f"  {reason}")
        self.query_one("#answer-meta", Static).update(self._labelled(label) + "\n" + route)

    def _labelled(self, label: str) -> Content:
        return Content.assemble(("› ", "$accent"), self._prompt, (f"  ({label})", "$text-muted"))

    def show_thinking(self, text: str) -> None:
        self.query_one("#thinking", Collapsible).display = True
        self.query_one("#thinking-text", Static).update(text)

    def show_answer(self, text: str, note: str = "") -> None:
        content = Content(text)
        if note:
            content += Content.styled(f" {note}", "bold $warning")
        self.query_one("#answer-text", Static).update(content)
        if self.scroll_y >= self.max_scroll_y - 1:
            self.scroll_end(animate=False)


class PromptPane(Vertical):
    def compose(self) -> ComposeResult:
        yield AnswerView(id="answer")
        yield PromptInput(id="prompt-input")
