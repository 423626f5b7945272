"""The pass-through: Ollama-dialect requests to Ollama hosts are relayed as the emulator wrote them
(the model's name aside), still routed, failed over, cancelled and journalled like any request."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import httpx

from tests.helpers import cancel_when_chosen, wait_until
from zeta_console.composition import build_router
from zeta_console.journal import Journal
from zeta_console.router.api import ErrorKind, Outcome
from zeta_console.router.router import ZetaDynamicRouter
from zeta_console.serve.endpoint import RunningEndpoint, start_endpoint
from zeta_console.settings import DEFAULT_POLICY, HostConfig, PolicyName, Settings
from zeta_console.sim import Fault, FleetSpec, HostSpec, SimFleet, default_fleet_spec, run_fleet

FAST = 200.0
CODER = "qwen2.5-coder:7b"
CODER_PROFILE, EMBEDDER_PROFILE, REASONER_PROFILE = default_fleet_spec().hosts[0].models
ASKED = "library/qwen2.5-coder:7b"  # the coder, pinned, by a name that differs from the host's
ASK = {"model": ASKED, "messages": [{"role": "user", "content": "write a python function"}], "options": {"num_predict": 40}}
EMULATOR_LINE = re.compile(rb'\{"model":"[^"]*","created_at"[^\n]*\n')


class Recorder:
    """A TCP relay on loopback in front of one emulator host: what the emulator wrote, byte for byte."""

    def __init__(self, port: int) -> None:
        self._port = port
        self.written: list[bytearray] = []  # one per connection, in the order opened
        self.sent: list[bytearray] = []  # what the client sent, likewise
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def __aenter__(self) -> Recorder:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()

    def lines(self) -> list[bytes]:
        """Every NDJSON reply line the emulator wrote, connection by connection."""
        return [line for written in self.written for line in EMULATOR_LINE.findall(bytes(written))]

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self._port)
        written, sent = bytearray(), bytearray()
        self.written.append(written)
        self.sent.append(sent)

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter, record: bytearray) -> None:
            try:
                while data := await source.read(65536):
                    record.extend(data)
                    sink.write(data)
                    await sink.drain()
            except ConnectionError:
                pass
            finally:
                sink.close()

        await asyncio.gather(pipe(reader, upstream_writer, sent), pipe(upstream_reader, writer, written))


@dataclass(frozen=True)
class Stack:
    fleet: SimFleet
    router: ZetaDynamicRouter
    endpoint: RunningEndpoint


ONE_HOST = default_fleet_spec()
TWO_HOSTS = FleetSpec(
    hosts=(HostSpec(name="a", models=(CODER_PROFILE, EMBEDDER_PROFILE, REASONER_PROFILE)), HostSpec(name="b", models=(CODER_PROFILE,)))
)


def settings_for(fleet: SimFleet, spec: FleetSpec, urls: dict[str, str] | None = None) -> Settings:
    """Every host of `spec` (at its URL in `urls`, else the fleet's); with two hosts the coder is on both."""
    base = Settings()
    hosts = tuple(HostConfig(host.name, (urls or {}).get(host.name, fleet.host(host.name).url)) for host in spec.hosts)
    if len(hosts) == 1:
        return replace(base, hosts=hosts)
    coder, embedder, reasoner = base.models
    models = (replace(coder, hosts=("a", "b")), replace(embedder, hosts=("a",)), replace(reasoner, hosts=("a",)))
    return replace(base, hosts=hosts, models=models)


@asynccontextmanager
async def serving(fleet: SimFleet, settings: Settings, journal: Journal | None = None) -> AsyncIterator[Stack]:
    async with build_router(settings, journal=journal) as router:
        endpoint = await start_endpoint(router, settings, "127.0.0.1:0")
        try:
            yield Stack(fleet, router, endpoint)
        finally:
            await endpoint.stop()


@asynccontextmanager
async def stack(spec: FleetSpec, journal: Journal | None = None, policy: str = DEFAULT_POLICY) -> AsyncIterator[Stack]:
    async with run_fleet(replace(spec, time_scale=FAST)) as fleet:
        settings = replace(settings_for(fleet, spec), policy=PolicyName(policy))
        async with serving(fleet, settings, journal) as served:
            yield served


@asynccontextmanager
async def recorded_stack() -> AsyncIterator[tuple[Stack, Recorder]]:
    """One emulated host behind a recorder, serve in front of it."""
    async with (
        run_fleet(replace(ONE_HOST, time_scale=FAST)) as fleet,
        Recorder(int(fleet.host("local").url.rsplit(":", 1)[1])) as recorder,
        serving(fleet, settings_for(fleet, ONE_HOST, {"local": recorder.url})) as served,
    ):
        yield served, recorder


def renamed(line: bytes, model: str, asked: str) -> bytes:
    return line.replace(f'{{"model":"{model}",'.encode(), f'{{"model":"{asked}",'.encode(), 1)


async def test_a_streamed_reply_is_the_emulators_bytes_with_the_asked_model_name() -> None:
    async with recorded_stack() as (served, recorder), httpx.AsyncClient(base_url=served.endpoint.url) as http:
        chat = b"".join([part async for part in _streamed(http, "/api/chat", ASK)])
        chat_lines = recorder.lines()
        generate = {"model": ASKED, "prompt": "write a python function", "options": {"num_predict": 20}}
        generated = b"".join([part async for part in _streamed(http, "/api/generate", generate)])
        generate_lines = recorder.lines()[len(chat_lines) :]
    assert len(chat_lines) > 10 and generate_lines
    assert chat == b"".join(renamed(line, CODER, ASKED) for line in chat_lines)
    assert generated == b"".join(renamed(line, CODER, ASKED) for line in generate_lines)
    assert b'"done":true' in chat_lines[-1] and f'"model":"{CODER}"'.encode() not in chat


async def _streamed(http: httpx.AsyncClient, path: str, body: dict[str, object]) -> AsyncIterator[bytes]:
    async with http.stream("POST", path, json=body) as response:
        assert response.status_code == 200 and response.headers["x-zeta-model"] == CODER
        async for part in response.aiter_raw():
            yield part


async def test_a_reply_without_streaming_is_the_hosts_own_unstreamed_reply_with_the_asked_model_name() -> None:
    """A client that does not stream gets the host's own unstreamed answer (upstream asked for no stream either:
    no lines to cut, parse and merge), byte for byte but for the model's name."""
    async with recorded_stack() as (served, recorder), httpx.AsyncClient(base_url=served.endpoint.url) as http:
        reply = await http.post("/api/chat", json={**ASK, "stream": False})
    sent, written = bytes(recorder.sent[-1]), bytes(recorder.written[-1])
    assert b'"stream":false' in sent and b'"stream":true' not in sent
    head, body = written.split(b"\r\n\r\n", 1)
    assert b"content-length" in head.lower() and body.startswith(f'{{"model":"{CODER}",'.encode())
    assert reply.status_code == 200 and reply.content == renamed(body, CODER, ASKED)
    assert reply.json()["done"] is True and len(reply.json()["message"]["content"]) > 0


async def test_the_relay_sends_its_own_headers_only_and_keeps_its_connection_for_the_next_request() -> None:
    """What goes upstream is the body and the relay's few headers: no client product (`User-Agent`), no compression
    asked (the reply is relayed as its bytes came); consecutive requests share one kept-alive connection."""
    async with recorded_stack() as (served, recorder), httpx.AsyncClient(base_url=served.endpoint.url) as http:
        for _ in range(2):
            assert (await http.post("/api/chat", json={**ASK, "stream": False})).status_code == 200
    relayed = [bytes(sent) for sent in recorder.sent if sent.startswith(b"POST /api/chat ")]
    assert len(relayed) == 1 and relayed[0].count(b"POST /api/chat ") == 2
    heads = [head.lower() for head in re.findall(rb"POST /api/chat .*?\r\n\r\n", relayed[0], re.DOTALL)]
    assert all(b"\r\ncontent-type: application/json\r\n" in head and b"\r\naccept: application/x-ndjson\r\n" in head for head in heads)
    assert not any(b"\r\nuser-agent:" in head or b"\r\naccept-encoding:" in head or b"\r\ncookie:" in head for head in heads)


async def test_an_embedding_is_relayed_with_the_asked_model_name() -> None:
    async with recorded_stack() as (served, _), httpx.AsyncClient(base_url=served.endpoint.url) as http:
        texts = ["a cat", "a dog"]
        relayed = await http.post("/api/embed", json={"model": "zeta:embed", "input": texts})
        model = relayed.headers["x-zeta-model"]
        direct = await http.post(served.fleet.host("local").url + "/api/embed", json={"model": model, "input": texts})
        record = served.router.snapshot()
    assert relayed.status_code == 200 and relayed.content.startswith(b'{"model":"zeta:embed","embeddings":[[')
    assert relayed.json()["embeddings"] == direct.json()["embeddings"]
    assert relayed.headers["x-zeta-endpoint"] == "embedder@local"
    assert next(e for e in record.endpoints if e.id == "embedder@local").successes == 1


async def test_a_failure_before_the_first_byte_fails_over_to_another_host() -> None:
    # static: the least loaded coder, whatever was measured
    async with stack(TWO_HOSTS, policy="static") as served, httpx.AsyncClient(base_url=served.endpoint.url) as http:
        a, b = served.fleet.host("a"), served.fleet.host("b")
        a.set_fault(CODER, Fault(error_rate=1.0))
        b.set_fault(CODER, Fault(stall_s=10_000))
        served.router.controls.drain("coder@a")
        busy = asyncio.ensure_future(http.post("/api/chat", json=ASK))  # b has work outstanding: a becomes the policy's choice
        await wait_until(lambda: _in_flight(served.router, "coder@b") == 1, message="the stalled request to reach b")
        b.clear_faults()
        served.router.controls.undrain("coder@a")
        cancel_when_chosen(served.router, "coder@a", busy)  # b's one slot frees for the failover
        reply = await http.post("/api/chat", json=ASK)
    assert reply.status_code == 200 and b'"done":true' in reply.content.splitlines()[-1]
    assert (reply.headers["x-zeta-endpoint"], reply.headers["x-zeta-fallbacks"]) == ("coder@b", "coder@a")


def _in_flight(router: ZetaDynamicRouter, endpoint: str) -> int:
    return next(e.in_flight for e in router.snapshot().endpoints if e.id == endpoint)


async def test_a_failure_mid_stream_ends_with_its_error_line_and_nothing_spliced() -> None:
    records = []
    async with stack(TWO_HOSTS) as served, httpx.AsyncClient(base_url=served.endpoint.url) as http:
        served.router.subscribe(lambda event: records.append(event) if hasattr(event, "outcome") else None)
        served.fleet.host("a").set_fault(CODER, Fault(fail_after_chunks=3))
        served.router.controls.drain("coder@b")  # the request goes to host a ...
        async with http.stream("POST", "/api/chat", json=ASK) as response:
            parts = response.aiter_raw()
            received = [await anext(parts)]
            served.router.controls.undrain("coder@b")  # ... and b could take over when a fails: it must not
            received += [part async for part in parts]
    assert response.status_code == 200 and response.headers["x-zeta-endpoint"] == "coder@a"
    lines = [json.loads(line) for line in b"".join(received).splitlines()]
    assert len(lines) == 4 and set(lines[-1]) == {"error"}
    assert not any(line.get("done") for line in lines[:-1])
    failed = records[-1]
    assert failed.endpoint == "coder@a" and failed.outcome is Outcome.ERROR and failed.error_kind is ErrorKind.FAILED_MID_STREAM
    assert failed.decision.fallbacks == ()


async def test_a_client_leaving_mid_stream_frees_the_emulators_slot() -> None:
    async with stack(ONE_HOST) as served, httpx.AsyncClient(base_url=served.endpoint.url) as http:
        # The emulator's answer is ~50 tokens whatever num_predict asks (7 ms of decode at this time scale, over before
        # the client reads its first line now and then): slowed 100x, it is still decoding when the client leaves.
        served.fleet.host("local").set_fault("qwen2.5-coder:7b", Fault(slow_factor=100.0))
        long_answer = {**ASK, "options": {"num_predict": 5000}}
        async with http.stream("POST", "/api/chat", json=long_answer) as response:
            parts = response.aiter_raw()
            assert b'"done":false' in await anext(parts)
            assert _busy(served.fleet) == 1
        await wait_until(lambda: _busy(served.fleet) == 0, message="the emulator's slot to be freed")
        await wait_until(lambda: served.router.snapshot().endpoints[0].in_flight == 0, message="the router to free its slot")


def _busy(fleet: SimFleet) -> int:
    models = fleet.host("local").state()["models"].values()
    return sum(int(model["busy_slots"]) + int(model["waiting"]) for model in models)


async def test_the_journal_records_ttft_and_the_done_lines_token_counts(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite3")
    try:
        async with stack(ONE_HOST, journal=journal) as served, httpx.AsyncClient(base_url=served.endpoint.url) as http:
            streamed = await http.post("/api/chat", json=ASK)
            whole = await http.post("/api/generate", json={"model": ASKED, "prompt": "hello", "stream": False})
            coder = next(e for e in served.router.snapshot().endpoints if e.id == "coder@local")
        assert journal.flush(5.0)
        rows = journal.recent_requests(2)
    finally:
        journal.close()
    done = json.loads(streamed.content.splitlines()[-1])
    for row, reply in zip(rows, (done, whole.json()), strict=True):
        assert row.outcome == Outcome.OK and row.endpoint == "coder@local"
        assert row.ttft_s is not None and 0 < row.ttft_s <= row.total_s
        assert (row.prompt_tokens, row.output_tokens) == (reply["prompt_eval_count"], reply["eval_count"])
    assert coder.decode_tps is not None and coder.ttft_p50_s is not None
