"""A real browser: a page on a foreign origin cannot drive the endpoint, a page on a local one can.

Headless Chromium loads a page from a second loopback server; the page posts to the endpoint
and writes what it saw into the DOM, which `--dump-dom` prints. The foreign page is served as
http://evil.example:<port> (Chromium's resolver maps that name to 127.0.0.1). CI installs
chromium (.ci/run); without it this test fails rather than skips.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.serve.conftest import serving

BROWSER_TIMEOUT_S = 60.0
ASK = {"model": "zeta:simple", "prompt": "hi", "stream": False}

# The attack first: a no-cors text/plain POST needs no preflight and its answer is opaque, so only
# its effect on the server matters. Then a normal JSON POST (preflighted) whose answer the page reads.
PAGE = """<!doctype html><html><body><pre id="result">pending</pre><script>
const serve = SERVE_URL, ask = JSON.stringify(ASK);
async function run() {
  try {
    await fetch(serve + "/api/generate", {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"}, body: ask});
  } catch (error) {}
  let result;
  try {
    const reply = await fetch(serve + "/api/generate", {method: "POST", headers: {"Content-Type": "application/json"}, body: ask});
    result = "status " + reply.status + " " + await reply.text();
  } catch (error) {
    result = "blocked " + error.name;
  }
  document.getElementById("result").textContent = result;
}
run();
</script></body></html>"""


# What OpenAI's JavaScript SDK sends from a page (dangerouslyAllowBrowser): a bearer key and its
# x-stainless-* headers, so the browser asks a preflight naming them.
OPENAI_SDK_PAGE = """<!doctype html><html><body><pre id="result">pending</pre><script>
const headers = {"Content-Type": "application/json", "Authorization": "Bearer unused", "x-stainless-lang": "js",
                 "x-stainless-os": "Linux", "x-stainless-retry-count": "0", "x-stainless-timeout": "600"};
fetch(SERVE_URL + "/v1/chat/completions", {method: "POST", headers, body: JSON.stringify(ASK)})
  .then(async reply => "status " + reply.status + " " + await reply.text(), error => "blocked " + error.name)
  .then(result => { document.getElementById("result").textContent = result; });
</script></body></html>"""
V1_ASK = {"model": "zeta:simple", "messages": [{"role": "user", "content": "hi"}]}


@contextmanager
def page_server(serve_url: str, page: str = PAGE, ask: dict[str, object] = ASK) -> Iterator[int]:
    """A second loopback server (another port, so another origin) serving the page; yields its port."""
    body = page.replace("SERVE_URL", json.dumps(serve_url)).replace("ASK", json.dumps(ask)).encode()

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def page_result(url: str, profile: Path) -> str:
    """Load `url` in headless Chromium and return the text the page wrote into #result."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "chromium is not installed: apt-get install -y chromium (.ci/run does)"
    browser = await asyncio.create_subprocess_exec(
        chromium,
        "--headless",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--host-resolver-rules=MAP evil.example 127.0.0.1",
        "--virtual-time-budget=20000",  # virtual time stands still while fetches are pending
        "--dump-dom",
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(browser.communicate(), BROWSER_TIMEOUT_S)
    finally:
        if browser.returncode is None:
            browser.kill()
            await browser.wait()
    found = re.search(r'<pre id="result">(.*?)</pre>', stdout.decode())
    assert found, f"chromium printed no page (exit {browser.returncode}): {stderr.decode()[-2000:]}"
    return html.unescape(found.group(1))


async def test_a_page_on_a_foreign_origin_cannot_post_to_serve(tmp_path: Path) -> None:
    async with serving() as served:
        with page_server(served.url) as port:
            result = await page_result(f"http://evil.example:{port}/", tmp_path / "profile")
        assert result == "blocked TypeError"
        assert served.router.snapshot().total_requests == 0  # the no-cors attack was refused too


async def test_a_page_on_a_local_origin_can_post_to_serve(tmp_path: Path) -> None:
    async with serving() as served:
        with page_server(served.url) as port:
            result = await page_result(f"http://127.0.0.1:{port}/", tmp_path / "profile")
        status, _, body = result.removeprefix("status ").partition(" ")
        assert status == "200", result
        assert json.loads(body)["done"] is True
        assert served.router.snapshot().total_requests == 2


async def test_a_local_page_using_openais_sdk_headers_passes_the_preflight(tmp_path: Path) -> None:
    async with serving() as served:
        with page_server(served.url, OPENAI_SDK_PAGE, V1_ASK) as port:
            result = await page_result(f"http://127.0.0.1:{port}/", tmp_path / "profile")
        status, _, body = result.removeprefix("status ").partition(" ")
        assert status == "200", result
        assert json.loads(body)["choices"][0]["message"]["content"]
