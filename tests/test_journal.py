"""The journal: records from any thread land, retention holds, history prints all three formats."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import sqlite3
import threading
from collections.abc import Mapping
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from zeta_console import journal as journal_module
from zeta_console.cli import main
from zeta_console.config import plain_data
from zeta_console.journal import SCHEMA_VERSION, Journal, JournalError, JournalReader, default_journal_path
from zeta_console.router.api import (
    CandidateScore,
    Classification,
    Decision,
    ErrorKind,
    OperatorAction,
    Outcome,
    Prediction,
    Ranking,
    RequestRecord,
)
from zeta_console.settings import PolicyName, Settings, Task

pytestmark = pytest.mark.usefixtures("isolated_xdg")

T0 = 1_700_000_000.0


def a_request(number: int, *, outcome: Outcome = Outcome.OK, prompt: str | None = None) -> RequestRecord:
    decision = Decision(
        request_id=f"r{number}",
        at=T0 + number,
        classification=Classification(Task.CODE, 0.9, "code fence", "rules"),
        policy=PolicyName("adaptive"),
        candidates=(
            CandidateScore("coder@local", "coder", "qwen2.5-coder:7b", "local", 0.25, {"wait_s": 0.1, "prefill_s": 0.15}),
            CandidateScore("reasoner@local", "reasoner", "qwen3:14b", "local", float("inf"), excluded="ejected"),
        ),
        chosen="coder@local",
        reason="coder: lowest predicted TTFT 0.25 s",
        fallbacks=("reasoner@gpu",) if number % 2 else (),
        client="loadgen",
    )
    failed = outcome is not Outcome.OK
    return RequestRecord(
        request_id=f"r{number}",
        decision=decision,
        endpoint="coder@local",
        model="qwen2.5-coder:7b",
        started_at=T0 + number,
        ttft_s=None if failed else 0.25,
        total_s=1.5,
        prompt_tokens=12,
        output_tokens=None if failed else 40,
        outcome=outcome,
        error_kind=ErrorKind.FAILED_MID_STREAM if failed else None,
        error="stream broke" if failed else None,
        prompt=prompt,
    )


def an_action(number: int) -> OperatorAction:
    return OperatorAction(at=T0 + number, action="set_policy", target="policy", old="adaptive", new="least_load", source="console")


def test_records_from_many_threads_all_land(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite3") as journal:

        def produce(thread: int) -> None:
            for number in range(200):
                journal.record(a_request(thread * 1000 + number))

        threads = [threading.Thread(target=produce, args=(thread,)) for thread in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert journal.flush(timeout=10)
        assert journal.count_requests() == 1600


def test_a_request_round_trips_with_its_decision(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite3") as journal:
        journal.record(a_request(1, outcome=Outcome.ERROR, prompt="secret"))
        journal.record(an_action(2))
        journal.flush()
        (stored,) = journal.recent_requests(10)
        assert journal.recent_actions(10) == [an_action(2)]
    assert (stored.request_id, stored.task, stored.confidence, stored.classifier_method) == ("r1", "code", 0.9, "rules")
    assert (stored.outcome, stored.error_kind, stored.error, stored.ttft_s) == ("error", "failed_mid_stream", "stream broke", None)
    assert stored.fallbacks == ("reasoner@gpu",)
    assert stored.prompt is None  # prompts are stored only when configured
    assert stored.decision["candidates"][0]["terms"] == {"wait_s": 0.1, "prefill_s": 0.15}
    assert stored.decision["candidates"][1]["excluded"] == "ejected"


def field_by_field(value: Any) -> Any:
    """plain_data's rules, read from `dataclasses.fields` on every call (what it did before it kept each class's names)."""
    if isinstance(value, StrEnum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: field_by_field(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, frozenset):
        return sorted(field_by_field(item) for item in value)
    if isinstance(value, (tuple, list)):
        return [field_by_field(item) for item in value]
    if isinstance(value, Mapping):
        return {str(field_by_field(key)): field_by_field(item) for key, item in value.items()}
    return value


def test_the_stored_decision_is_every_field_converted() -> None:
    record = a_request(3, outcome=Outcome.ERROR)
    predicted = replace(record.decision, pins={"code": "coder"}, prediction=Prediction(0.2, 1.4, 40.0, Ranking.READER, 0.5))
    for value in (record, predicted, an_action(4), Settings(), {Task.CODE: frozenset({"b", "a"})}):
        assert json.dumps(plain_data(value)) == json.dumps(field_by_field(value))
    assert plain_data(predicted)["prediction"]["ranked_by"] == "reader"


def test_the_decision_is_written_as_plain_data_would_write_it(tmp_path: Path) -> None:
    record = a_request(3)
    proxied = replace(record.decision, pins=MappingProxyType({"code": "coder"}), prediction=Prediction(0.2, 1.4, 40.0, Ranking.READER, 0.5))
    decisions = (record.decision, proxied)
    with Journal(tmp_path / "j.sqlite3") as journal:
        for decision in decisions:
            journal.record(replace(record, decision=decision))
    with sqlite3.connect(tmp_path / "j.sqlite3") as connection:
        stored = [text for (text,) in connection.execute("SELECT decision FROM requests ORDER BY id")]
    assert stored == [json.dumps(field_by_field(decision)) for decision in decisions]


def test_the_writer_gathers_for_its_window_and_a_flush_cuts_it_short(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite3", write_window_s=600.0) as journal:
        for number in range(5):
            journal.record(a_request(number))
        assert JournalReader(tmp_path / "j.sqlite3").count_requests() == 0  # still gathering: nothing committed
        assert journal.flush(timeout=10)
        assert (journal.count_requests(), journal.batches_written) == (5, 1)
        journal.record(a_request(5))
        assert journal.flush(timeout=10)
        assert (journal.count_requests(), journal.batches_written) == (6, 2)


def test_close_cuts_the_window_short_and_writes_everything(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3", write_window_s=600.0)
    for number in range(3):
        journal.record(a_request(number))
    closing = threading.Thread(target=journal.close)
    closing.start()
    closing.join(timeout=10)
    assert not closing.is_alive()
    assert JournalReader(tmp_path / "j.sqlite3").count_requests() == 3


def test_a_backlog_beyond_one_batch_is_written_without_waiting_again(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite3", write_window_s=600.0) as journal:
        for number in range(1_200):
            journal.record(a_request(number))
        assert journal.flush(timeout=10)
        assert (journal.count_requests(), journal.batches_written) == (1_200, 3)  # at most 500 events a transaction


def test_prompts_are_stored_when_configured(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite3", store_prompts=True) as journal:
        journal.record(a_request(1, prompt="print hello"))
        journal.flush()
        assert journal.recent_requests(1)[0].prompt == "print hello"


def test_retention_keeps_the_newest_rows(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite3", retention_rows=50) as journal:
        for number in range(300):
            journal.record(a_request(number))
            if number % 70 == 0:
                journal.flush()
        journal.flush()
        assert journal.count_requests() == 50
        assert [request.request_id for request in journal.recent_requests(2)] == ["r298", "r299"]


def test_the_file_is_in_wal_mode_with_a_schema_version(tmp_path: Path) -> None:
    Journal(tmp_path / "j.sqlite3").close()
    with sqlite3.connect(tmp_path / "j.sqlite3") as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "j.sqlite3") as connection:
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(JournalError, match="newer than this zeta-console understands"):
        Journal(tmp_path / "j.sqlite3")


def test_journal_used_from_another_thread_than_its_creator(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    counts: list[int] = []

    def use() -> None:
        journal.record(a_request(1))
        journal.flush()
        counts.append(journal.count_requests())
        journal.close()

    worker = threading.Thread(target=use)
    worker.start()
    worker.join()
    assert counts == [1]


def test_record_after_close_is_an_error(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    journal.close()
    journal.close()
    with pytest.raises(RuntimeError):
        journal.record(a_request(1))


def test_default_path_is_in_the_xdg_state_dir(isolated_xdg: Path) -> None:
    assert default_journal_path() == isolated_xdg / "state-home" / "zeta-console" / "journal.sqlite3"
    assert Journal.from_settings(Settings()).path == default_journal_path()


@pytest.fixture
def filled_journal(isolated_xdg: Path) -> None:
    with Journal.from_settings(Settings()) as journal:
        journal.record(a_request(1))
        journal.record(an_action(2))
        journal.record(a_request(3, outcome=Outcome.ERROR))


@pytest.mark.usefixtures("filled_journal")
def test_history_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["history"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["time", "client", "task", "endpoint", "ttft", "total", "outcome", "reason"]
    assert len(lines) == 4
    assert lines[1].split()[2:8] == ["loadgen", "code", "coder@local", "0.25s", "1.50s", "ok"]
    assert lines[1].endswith("coder: lowest predicted TTFT 0.25 s")
    assert lines[2].split()[2:6] == ["console", "set_policy", "policy", "-"]
    assert lines[2].endswith("adaptive -> least_load")
    assert lines[3].split()[7] == "error" and lines[3].endswith("error: stream broke")


@pytest.mark.usefixtures("filled_journal")
def test_history_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["history", "--json", "--last", "2"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [event["kind"] for event in events] == ["action", "request"]
    assert events[0]["new"] == "least_load"
    assert events[1]["request_id"] == "r3" and events[1]["decision"]["chosen"] == "coder@local"


def refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


@pytest.mark.usefixtures("filled_journal")
def test_history_json_is_strict_json(capsys: pytest.CaptureFixture[str]) -> None:
    """JSON has no Infinity (Node's JSON.parse refuses it): an excluded candidate's score is null."""
    assert main(["history", "--json"]) == 0
    events = [json.loads(line, parse_constant=refuse_constant) for line in capsys.readouterr().out.splitlines()]
    candidates = events[0]["decision"]["candidates"]
    assert [(candidate["endpoint"], candidate["score"]) for candidate in candidates] == [("coder@local", 0.25), ("reasoner@local", None)]


@pytest.mark.usefixtures("filled_journal")
def test_history_csv(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["history", "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [row["kind"] for row in rows] == ["request", "action", "request"]
    assert rows[0]["endpoint"] == "coder@local" and rows[0]["ttft_s"] == "0.25" and rows[0]["outcome"] == "ok"
    assert rows[1]["reason"] == "adaptive -> least_load"


def test_history_without_a_journal_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["history"]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"no journal at {default_journal_path()}: nothing has been routed yet\n"


@pytest.mark.parametrize("argv", [["history", "--json", "--config", "c.yaml"], ["--config", "c.yaml", "history", "--json"]])
def test_history_follows_the_configured_path(argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Path("c.yaml").write_text(f"journal:\n  path: {tmp_path / 'elsewhere.sqlite3'}\n")
    with Journal(tmp_path / "elsewhere.sqlite3") as journal:
        journal.record(a_request(7))
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["request_id"] == "r7"


def a_predicted_request(number: int, *, waited_s: float, ttft_s: float, total_s: float) -> RequestRecord:
    record = a_request(number)
    prediction = Prediction(ttft_s=0.3, completion_s=2.0, output_tokens=120.0, ranked_by=Ranking.COMPLETION, waited_s=waited_s)
    return replace(record, decision=replace(record.decision, prediction=prediction), ttft_s=ttft_s, total_s=total_s)


def test_the_prediction_and_the_actual_times_round_trip(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite3") as journal:
        journal.record(a_predicted_request(1, waited_s=14.0, ttft_s=14.5, total_s=16.25))
        journal.record(a_request(2, outcome=Outcome.ERROR))  # nothing predicted, no completion
        journal.flush()
        predicted, failed = journal.recent_requests(10)
    assert (predicted.ranked_by, predicted.waited_s, predicted.predicted_ttft_s, predicted.predicted_completion_s) == (
        "completion", 14.0, 0.3, 2.0
    )
    # Actual times count from the decision, as the prediction does: the 14 s in the queue are not the endpoint's.
    assert (predicted.actual_ttft_s, predicted.actual_completion_s) == (0.5, 2.25)
    assert predicted.decision["prediction"]["output_tokens"] == 120.0
    assert (failed.predicted_ttft_s, failed.actual_ttft_s, failed.actual_completion_s) == (None, None, None)


def _version_one_file(path: Path) -> None:
    """A journal as schema version 1 wrote it (one request row), before predictions were recorded."""
    with sqlite3.connect(path) as connection:
        connection.executescript(f"{journal_module._SCHEMA} PRAGMA user_version = 1;")
        connection.execute(
            "INSERT INTO requests (request_id, started_at, decided_at, client, task, confidence, classifier_method,"
            " classifier_reason, policy, reason, decision, fallbacks, total_s, outcome)"
            " VALUES ('r1', 1.0, 1.0, 'loadgen', 'code', 0.9, 'rules', 'fence', 'adaptive', 'why', '{}', '[]', 1.5, 'ok')"
        )


def test_a_version_one_journal_is_read_as_it_is_and_migrated_by_the_writer(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    _version_one_file(path)
    reader = JournalReader(path)
    (old,) = reader.recent_requests(5)
    reader.close()
    assert (old.request_id, old.predicted_ttft_s, old.actual_ttft_s) == ("r1", None, None)
    with Journal(path) as journal:
        journal.record(a_predicted_request(2, waited_s=0.0, ttft_s=0.25, total_s=1.5))
        journal.flush()
        old, new = journal.recent_requests(5)
    assert old.predicted_ttft_s is None
    assert (new.predicted_ttft_s, new.actual_ttft_s) == (0.3, 0.25)
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
