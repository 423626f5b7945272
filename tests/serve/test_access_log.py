"""serve's access log: one line per request with client, model asked, endpoint chosen, status, TTFT, total."""

from __future__ import annotations

import re

import httpx

from tests.serve.conftest import serving
from zeta_console.sim import Fault

LINE = re.compile(
    r'^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} (?P<client>\S+) "(?P<request>[A-Z]+ \S+)" model=(?P<model>\S+) '
    r"endpoint=(?P<endpoint>\S+) status=(?P<status>\d+) ttft=(?P<ttft>\S+) total=(?P<total>\S+)$"
)
CHAT = {"model": "qwen2.5-coder:7b", "messages": [{"role": "user", "content": "write a python function"}], "options": {"num_predict": 20}}


def fields(line: str) -> dict[str, str]:
    matched = LINE.match(line)
    assert matched, line
    return matched.groupdict()


async def test_each_request_gets_one_line_with_its_route_status_and_timings() -> None:
    lines: list[str] = []
    async with serving(access_log=lines.append) as served, httpx.AsyncClient(base_url=served.url) as http:
        streamed = await http.post("/api/chat", json=CHAT)
        whole = await http.post("/api/generate", json={"model": "zeta:simple", "prompt": "hi", "stream": False})
        embedded = await http.post("/api/embed", json={"model": "zeta:embed", "input": "hello"})
        unknown = await http.post("/api/chat", json={**CHAT, "model": "nope:1b"})
        foreign = await http.get("/api/tags", headers={"Origin": "http://evil.example"})
    assert [response.status_code for response in (streamed, whole, embedded, unknown, foreign)] == [200, 200, 200, 404, 403]
    chat, generate, embed, missing, refused = (fields(line) for line in lines)
    assert chat["client"] == "127.0.0.1" and chat["request"] == "POST /api/chat"
    assert (chat["model"], chat["endpoint"], chat["status"]) == ("qwen2.5-coder:7b", "coder@local", "200")
    ttft, total = float(chat["ttft"].removesuffix("s")), float(chat["total"].removesuffix("s"))
    assert 0 < ttft <= total
    assert (generate["model"], generate["endpoint"], generate["ttft"] != "-") == ("zeta:simple", streamed.headers["x-zeta-endpoint"], True)
    assert (embed["model"], embed["endpoint"], embed["ttft"]) == ("zeta:embed", "embedder@local", "-")
    assert (missing["request"], missing["endpoint"], missing["status"]) == ("POST /api/chat", "-", "404")
    assert (refused["request"], refused["model"], refused["status"]) == ("GET /api/tags", "-", "403")


async def test_an_upstream_failure_names_the_endpoint_it_failed_on() -> None:
    lines: list[str] = []
    async with serving(access_log=lines.append) as served, httpx.AsyncClient(base_url=served.url) as http:
        served.fleet.host("local").set_fault(CHAT["model"], Fault(error_rate=1.0))
        response = await http.post("/api/chat", json=CHAT)
    assert response.status_code == 500
    line = fields(lines[-1])
    assert (line["endpoint"], line["status"], line["ttft"]) == ("coder@local", "500", "-")
