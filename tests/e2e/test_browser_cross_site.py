"""Cross-site requests in a real browser: a page on another port of the same host (same
site, so even a SameSite=Strict cookie rides along) and a page of another origin post a
form and a fetch to the clerk's window; the app refuses both and nothing changes."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.live import PASSWORD, add_clerk, browser
from tests.support import AppProcess, free_port

pytestmark = pytest.mark.browser

ATTACK = """<!doctype html><html><body>
<form id="f" method="POST" enctype="text/plain"
  action="{target}/api/halls/district/windows/1/pause">
<input name='{{"x":"' value='"}}'></form>
<script>
window.results = [];
fetch("{target}/api/halls/district/windows/1/close", {{method: "POST", mode: "no-cors",
  credentials: "include", headers: {{"Content-Type": "text/plain"}}, body: "{{}}"}})
  .then(() => window.results.push("fetch sent"), () => window.results.push("fetch failed"))
  .finally(() => document.getElementById("f").submit());
</script></body></html>"""


@pytest.fixture
def attacker() -> Iterator[tuple[int, dict[str, str]]]:
    """A tiny web server on another port serving the page set in ``pages``."""
    pages: dict[str, str] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path, "").encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield port, pages
    server.shutdown()


def test_cross_site_form_and_fetch_are_refused(app: AppProcess, redis_url: str,
                                               attacker: tuple[int, dict[str, str]]) -> None:
    add_clerk(redis_url, "S01")
    port, pages = attacker
    base = app.base_url  # http://127.0.0.1:<port>
    pages["/same-site"] = ATTACK.format(target=base)
    pages["/cross-site"] = ATTACK.format(target=base.replace("127.0.0.1", "localhost"))
    with browser() as b:
        page = b.new_page()
        page.goto(f"{base}/h/district/clerk")
        # the clerk signs in from the hall's own page: the session cookie is set
        status = page.evaluate("""async (password) => {
            const login = await fetch('/api/login', {method: 'POST',
              headers: {'Content-Type': 'application/json'},
              body: JSON.stringify({username: 'district-S01', password})});
            const at = await fetch('/api/halls/district/windows/1/login', {method: 'POST',
              headers: {'Content-Type': 'application/json'}, body: '{}'});
            return [login.status, at.status];
        }""", PASSWORD)
        assert status == [200, 200]
        for name in ("same-site", "cross-site"):
            page.goto(f"http://127.0.0.1:{port}/{name}")
            page.wait_for_url(lambda url: "/api/halls/" in url, timeout=10_000)
            assert "cross_site_request" in page.content() or "unauthorized" in page.content()
            window = httpx.get(f"{base}/api/halls/district/windows/1").json()
            assert window["status"] == "open", (name, window)  # neither paused nor closed
        # the same page's own requests still work
        page.goto(f"{base}/h/district/clerk")
        paused = page.evaluate("""async () => (await fetch(
            '/api/halls/district/windows/1/pause', {method: 'POST',
            headers: {'Content-Type': 'application/json'}, body: '{}'})).status""")
        assert paused == 200
