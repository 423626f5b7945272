"""The prompt pane as a conversation: context per conversation, new conversations, history, labels, key bursts."""

from __future__ import annotations

import httpx
import pytest
from textual._xterm_parser import XTermParser
from textual.pilot import Pilot
from textual.widgets import Collapsible

from tests.ui.conftest import settle
from tests.ui.frozen import frozen_app
from tests.ui.test_live import ask, live_console, prompt_entries
from zeta_console.sim.content import chat_prompt_tokens
from zeta_console.ui.app import ZetaConsole
from zeta_console.ui.commands import ConsoleCommands
from zeta_console.ui.prompting import CANCELLED_MARK
from zeta_console.ui.screens.controls import ControlsScreen
from zeta_console.ui.widgets.prompt import PromptInput, Transcript, Turn

pytestmark = pytest.mark.usefixtures("isolated_xdg")


def transcript(app: ZetaConsole) -> Transcript:
    return app.screen_stack[0].query_one(Transcript)


def turns(app: ZetaConsole) -> list[Turn]:
    return transcript(app).turns


def prompt_tokens_received(app: ZetaConsole) -> int | None:
    """What the emulated host counted in the last prompt's request (its `prompt_eval_count`)."""
    record = prompt_entries(app)[-1].record
    assert record is not None
    return record.prompt_tokens


def type_burst(app: ZetaConsole, data: str) -> None:
    """What the terminal driver does with one read: parse it and post every key at once, in order."""
    driver = app._driver
    assert driver is not None
    for event in XTermParser().feed(data):
        driver.process_message(event)


async def answered(app: ZetaConsole, pilot: Pilot[None], count: int) -> Turn:
    await settle(pilot, lambda: len(turns(app)) == count and bool(turns(app)[-1].answer_text), message=f"turn {count} answered")
    await app.workers.wait_for_complete()
    return turns(app)[-1]


async def test_the_second_turn_carries_the_first_turns_messages() -> None:
    async with live_console() as (app, pilot):
        first, second = "write a python function to reverse a list", "now make it generic over any sequence type"
        await ask(app, pilot, first)
        assert prompt_tokens_received(app) == chat_prompt_tokens([first])
        answer = turns(app)[0].answer_text
        await ask(app, pilot, second)
        # the conversation is a session: its second turn went back to the endpoint caching the first, which
        # evaluated only the new prompt (Ollama's prompt_eval_count) and now holds all three messages
        record = prompt_entries(app)[-1].record
        assert record is not None and record.endpoint == prompt_entries(app)[0].record.endpoint  # type: ignore[union-attr]
        assert "affinity hit" in record.decision.reason
        assert prompt_tokens_received(app) == chat_prompt_tokens([second])
        url = next(e.url for e in app.session.router.snapshot().endpoints if e.id == record.endpoint)
        async with httpx.AsyncClient(base_url=url) as http:
            caches = (await http.get("/sim/state")).json()["models"][record.model]["slot_caches"]
        assert max(cache["cached_tokens"] for cache in caches) >= chat_prompt_tokens([first, answer, second])
        assert [message["role"] for message in app.conversation.messages] == ["user", "assistant"] * 2
        assert len(turns(app)) == 2 and turns(app)[0].answer_text == answer  # the transcript keeps both


async def test_a_new_conversation_forgets_the_context() -> None:
    async with live_console() as (app, pilot):
        await ask(app, pilot, "write a python function to reverse a list")
        await pilot.press("ctrl+n")
        await settle(pilot, lambda: not turns(app), message="the transcript cleared")
        assert app.conversation.messages == []
        await ask(app, pilot, "what is 2 + 2")
        assert prompt_tokens_received(app) == chat_prompt_tokens(["what is 2 + 2"])

        await ask(app, pilot, "/new what is the capital of France")  # the prefix: a new conversation, then the prompt
        assert [turn.prompt_text for turn in turns(app)] == ["what is the capital of France"]
        assert prompt_tokens_received(app) == chat_prompt_tokens(["what is the capital of France"])

        await pilot.press("f2")  # the palette entry works from any screen
        await settle(pilot, lambda: isinstance(app.screen, ControlsScreen), message="controls")
        entries = {title: callback for title, callback, _ in ConsoleCommands(app.screen).entries()}
        entries["prompt: new conversation"]()
        await settle(pilot, lambda: not turns(app), message="cleared from the palette")
        assert app.conversation.messages == []


async def hold_the_reasoner(app: ZetaConsole) -> None:
    """Load the emulated reasoner, then slow it 100x: an answer then thinks for minutes (longer than every
    wait of a test put together), so it is still running whatever the machine's load delays the test's steps."""
    url = app.session.settings.hosts[0].url
    async with httpx.AsyncClient(base_url=url) as client:
        (await client.post("/api/generate", json={"model": "qwen3:14b"}, timeout=30.0)).raise_for_status()
        (await client.post("/sim/fault", json={"model": "qwen3:14b", "slow_factor": 100.0})).raise_for_status()


async def test_a_new_conversation_cancels_the_running_answer() -> None:
    async with live_console(time_scale=6.0) as (app, pilot):
        await hold_the_reasoner(app)  # at full speed its answer ended in ~2 s: a loaded machine typed "too soon" too late
        # Each prompt to its tier, whatever the policy makes of the slowed reasoner and the demo's warm coder.
        app.session.router.controls.pin("coder", "simple")
        app.session.router.controls.pin("reasoner", "complex_reasoning")
        app.send_prompt("/reason prove that there are infinitely many primes, step by step")
        await settle(pilot, lambda: bool(turns(app)) and bool(turns(app)[0].thinking_text), timeout=20, message="thinking")
        type_burst(app, "too soon\r")  # refused while the answer runs, but kept in the input
        await settle(pilot, lambda: app.screen.query_one(PromptInput).text == "too soon", message="the refused prompt kept")
        assert len(turns(app)) == 1
        app.send_prompt("/new /simple what is 2 + 2")
        await answered(app, pilot, 1)
        assert turns(app)[0].prompt_text == "what is 2 + 2"
        outcomes = lambda: [entry.outcome for entry in prompt_entries(app)]  # noqa: E731
        await settle(pilot, lambda: outcomes() == ["cancelled", "ok"], message="the first cancelled, the second answered")
        assert app.conversation.messages[0]["content"] == "what is 2 + 2"
        assert CANCELLED_MARK not in turns(app)[0].answer_text
        assert not [note for note in app._notifications if note.severity == "error"]  # the removed turn's cancel is quiet


async def test_each_answer_is_labelled_and_its_thinking_folded() -> None:
    async with live_console() as (app, pilot):
        app.session.router.controls.pin("coder", "code")  # the cold-start cost would otherwise decide who answers
        app.session.router.controls.pin("reasoner", "complex_reasoning")
        coded = await ask(app, pilot, "write a python function to reverse a list")
        assert coded.endpoint == "coder@local"  # a model that does not think: nothing to fold
        assert not turns(app)[0].query_one(Collapsible).display
        entry = await ask(app, pilot, "/reason prove that there are infinitely many primes, step by step")
        turn = turns(app)[1]
        assert entry.endpoint == "reasoner@local"
        assert turn.route_text == f"→ qwen3:14b @ reasoner@local · complex_reasoning 1.00 · {entry.reason}"
        assert turn.query_one(".turn-route").region.height == 1  # one line, cut at the pane's edge
        thinking = turn.query_one(Collapsible)
        assert thinking.display and thinking.collapsed and turn.thinking_text.startswith("[simulated reasoning")
        assert not turn.query_one(".turn-thinking-text").region  # folded: not drawn
        assert turn.answer_text.startswith("[simulated qwen3:14b]")
        await pilot.click(thinking.query_one("CollapsibleTitle"))
        await settle(pilot, lambda: not thinking.collapsed and bool(turn.query_one(".turn-thinking-text").region), message="unfolded")


async def test_a_burst_of_text_and_enter_sends_the_whole_prompt() -> None:
    """tmux `send-keys "text" Enter` delivers one read; the Enter used to run before the text was typed."""
    async with live_console() as (app, pilot):
        type_burst(app, "/simple what is the capital of France\r")
        turn = await answered(app, pilot, 1)
        assert turn.prompt_text == "what is the capital of France" and "simple" in turn.route_text
        assert app.screen.query_one(PromptInput).text == ""
        await pilot.press(*"/simple and of Spain", "enter")  # pilot's keys, no pauses in between
        turn = await answered(app, pilot, 2)
        assert turn.prompt_text == "and of Spain"
        type_burst(app, "two\nlines\x0a")  # ctrl+j (LF) in a burst: a newline in its place, after the text
        await pilot.pause()
        assert app.screen.query_one(PromptInput).text == "two\nlines\n"


async def test_up_and_down_recall_earlier_prompts_from_the_first_and_last_line() -> None:
    app = frozen_app()
    async with app.run_test(size=(120, 40)) as pilot:
        prompt = app.screen.query_one(PromptInput)
        await pilot.press(*"first", "enter")
        await pilot.press(*"second", "ctrl+j", *"line", "enter")
        await answered(app, pilot, 2)
        await pilot.press(*"draft")
        await pilot.press("up")
        assert prompt.text == "second\nline" and prompt.cursor_location == (1, 4)
        await pilot.press("up")  # not on the first line yet: the cursor moves
        assert prompt.text == "second\nline" and prompt.cursor_location[0] == 0
        await pilot.press("up")
        assert prompt.text == "first"
        await pilot.press("up")  # the oldest stays
        assert prompt.text == "first"
        await pilot.press("down")
        assert prompt.text == "second\nline"
        await pilot.press("down")  # past the newest: the draft comes back
        assert prompt.text == "draft"


async def test_the_transcript_follows_the_tail_only_when_the_reader_is_at_the_bottom() -> None:
    app = frozen_app()
    async with app.run_test(size=(80, 24)) as pilot:
        view = transcript(app)

        async def turn(count: int) -> None:
            before = view.max_scroll_y
            app.send_prompt(f"question {count}")
            await answered(app, pilot, count)
            await settle(pilot, lambda: view.max_scroll_y > before, message="the transcript grew")

        for count in range(1, 5):
            await turn(count)
        await settle(pilot, lambda: view.scroll_y == view.max_scroll_y, message="following the tail")
        view.focus()
        await pilot.press("pageup")  # the reader scrolls back
        reading = view.scroll_y
        assert reading < view.max_scroll_y
        await turn(5)
        assert view.scroll_y == reading  # left where they were reading
        await pilot.press("end")  # back at the bottom: following again
        await turn(6)
        await settle(pilot, lambda: view.scroll_y == view.max_scroll_y, message="following the tail again")
