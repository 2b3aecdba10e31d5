"""The hall board in a real browser speaks calls: it receives ``voice.announce`` from the hub,
requests the chime and the call's audio from the app, plays them one after another (never
overlapping, repeated as configured) and drops an announcement that is too old."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from playwright.sync_api import sync_playwright

from hall.auth import Role
from hall.config import BUNDLED_HALLS_DIR
from tests.e2e.live import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    add_clerk,
    add_device,
    clerk_session,
    screenshot,
)
from tests.support import AppProcess
from tests.voice_support import StreamWatch, WorkerProcess

pytestmark = pytest.mark.browser

# A board in a hall runs as a kiosk that may play sound without a tap.
KIOSK_ARGS = [*CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required"]
# A desktop browser's default: no sound before someone touches the page. Headless Chromium
# here plays anyway (and reports the page as already activated), so the rule is applied
# as browsers apply it: play() is refused until a real (trusted) click.
GESTURE_POLICY = """
let touched = false;
document.addEventListener('click', (e) => { if (e.isTrusted) touched = true; }, true);
const play = HTMLMediaElement.prototype.play;
HTMLMediaElement.prototype.play = function () {
  if (!touched) {
    return Promise.reject(new DOMException('play() needs a user gesture', 'NotAllowedError'));
  }
  return play.call(this);
};
"""


# Every play() of every audio element, with how many other elements were still sounding.
AUDIO_LOG = """
window.__audio = [];
const elements = new Set();
const play = HTMLMediaElement.prototype.play;
HTMLMediaElement.prototype.play = function () {
  const sounding = [...elements].filter((e) => e !== this && !e.paused && !e.ended).length;
  elements.add(this);
  window.__audio.push([new URL(this.src).pathname, sounding, performance.now()]);
  return play.call(this);
};
"""


def short_district(tmp_path: Path) -> Path:
    """The district hall, speaking Chinese only and quickly, so the test plays in seconds."""
    text = (BUNDLED_HALLS_DIR / "district.toml").read_text(encoding="utf-8")
    text = text.replace('languages = ["zh", "en"]', 'languages = ["zh"]', 1)
    text = re.sub(r"(?m)^rate = \d+", "rate = 300", text, count=1)
    assert 'languages = ["zh"]' in text and "rate = 300" in text
    path = tmp_path / "district.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def hall(redis_url: str, tmp_path: Path) -> Iterator[tuple[AppProcess, WorkerProcess]]:
    env = {"HALL_DATA": str(tmp_path), "HALL_FILES": str(short_district(tmp_path))}
    app = AppProcess(redis_url, extra_env=env, log_path=tmp_path / "app.log").start()
    worker = WorkerProcess(redis_url, tmp_path, log_path=tmp_path / "worker.log").start()
    yield app, worker
    worker.stop()
    app.stop()


def call(base: str, redis_url: str, clerk: Any, kiosk: str) -> str:
    issued = clerk.post("/api/halls/district/tickets", json={"matter": "QY-KB"},
                        headers={"Authorization": f"Bearer {kiosk}"})
    assert issued.status_code == 201, issued.text
    called = clerk.post("/api/halls/district/windows/1/call-next")
    assert called.status_code == 200, called.text
    number: str = called.json()["ticket"]["number"]
    return number


def test_board_plays_chime_then_call_repeated_never_overlapping(hall, redis_url) -> None:
    app, _ = hall
    base = app.base_url
    clerk = clerk_session(base, add_clerk(redis_url, "S01"))
    assert clerk.post("/api/halls/district/windows/1/login").status_code == 200
    kiosk = add_device(redis_url, Role.KIOSK)
    watch = StreamWatch(redis.Redis.from_url(redis_url), "district")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=KIOSK_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1920, "height": 1080})
            page.add_init_script(AUDIO_LOG)
            audio_responses: dict[str, int] = {}
            page.on("response", lambda r: audio_responses.__setitem__(
                r.url.replace(base, ""), r.status) if "/audio/" in r.url else None)
            page.goto(f"{base}/h/district/board")
            page.wait_for_function("document.body.dataset.connected === '1'")
            page.wait_for_function("window.hallAnnouncer !== undefined")

            first = call(base, redis_url, clerk, kiosk)
            assert clerk.post("/api/halls/district/windows/1/recall").status_code == 200
            announced = watch.wait_for("voice.announce", count=2, timeout=20)
            assert [d["number"] for _, d in announced] == [first, first]
            assert [d["kind"] for _, d in announced] == ["call", "recall"]
            urls = [d["audio"] for _, d in announced]
            ids = [i for i, _ in announced]

            page.wait_for_function(
                "ids => ids.every(i => window.hallAnnouncer.state().played.includes(i))",
                arg=ids, timeout=45_000)
            screenshot(page, "voice-board")
            # The board asked the app for the chime and each call's audio, and got them.
            assert audio_responses.get("/audio/chime.wav") in (200, 206), audio_responses
            for url in urls:
                assert audio_responses.get(url) in (200, 206), audio_responses
            log = page.evaluate("window.__audio")
            plays = [src for src, _, _ in log]
            # chime, then the call twice (repeat = 2); then the recall the same way.
            assert plays == ["/audio/chime.wav", urls[0], urls[0],
                             "/audio/chime.wav", urls[1], urls[1]], plays
            # Never overlapping: when a sound starts, no other is still sounding.
            assert [sounding for _, sounding, _ in log] == [0] * 6, log

            # A late announcement (e.g. replayed after a reconnect) is dropped, unplayed.
            stale = {"id": "1-1", "type": "voice.announce", "at": time.time(),
                     "data": {**announced[0][1], "call_id": "1-0",
                              "call_at": time.time() - 120,
                              "audio": "/audio/" + "0" * 64 + ".wav"}}
            page.evaluate("e => window.dispatchEvent(new CustomEvent('hall:event', "
                          "{detail: e}))", stale)
            page.wait_for_function("window.hallAnnouncer.state().dropped.includes('1-1')")
            # dropped before any sound was made for it: nothing queued or playing, no request
            state = page.evaluate("window.hallAnnouncer.state()")
            assert state["queued"] == [] and state["current"] is None, state
            assert "/audio/" + "0" * 64 + ".wav" not in audio_responses
            assert len(page.evaluate("window.__audio")) == 6
        finally:
            browser.close()


def test_board_without_autoplay_asks_for_one_tap(hall, redis_url) -> None:
    app, _ = hall
    base = app.base_url
    clerk = clerk_session(base, add_clerk(redis_url, "S01"))
    assert clerk.post("/api/halls/district/windows/1/login").status_code == 200
    kiosk = add_device(redis_url, Role.KIOSK)
    watch = StreamWatch(redis.Redis.from_url(redis_url), "district")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1920, "height": 1080})
            page.add_init_script(GESTURE_POLICY)
            page.goto(f"{base}/h/district/board")
            page.wait_for_function("document.body.dataset.connected === '1'")
            call(base, redis_url, clerk, kiosk)
            (announce_id, _), = watch.wait_for("voice.announce", timeout=20)
            button = page.get_by_test_id("voice-unlock")
            button.wait_for(timeout=10_000)  # the browser refused sound: ask, keep the call
            assert page.evaluate("window.hallAnnouncer.state().queued") == [announce_id]
            button.click()
            page.wait_for_function(
                "id => window.hallAnnouncer.state().played.includes(id)", arg=announce_id,
                timeout=30_000)
            assert page.get_by_test_id("voice-unlock").count() == 0
        finally:
            browser.close()
