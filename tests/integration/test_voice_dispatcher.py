"""The dispatcher on a real Redis: one delivery per call across dispatchers, claims, staleness."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest
from redis.asyncio import Redis

from hall.config import HallConfig
from hall.events import EventType
from tests.support import FakeClock
from ticketing import model
from ticketing.keys import HallKeys
from ticketing.model import Channel
from ticketing.store import TicketStore
from voice.announce import GROUP
from voice.audio import AudioCache, chime_wav
from voice.dispatcher import Dispatcher, Handled, Outcome
from voice.phrases import Announcement
from voice.settings import VoiceSettings, parse_voice
from voice.synth import Pcm

pytestmark = pytest.mark.asyncio(loop_scope="session")
DISTRICT = HallKeys("district")


class Recorder:
    """Stands in for the RQ queue: records what a dispatcher hands to the worker."""

    def __init__(self) -> None:
        self.sent: list[Announcement] = []

    async def __call__(self, ann: Announcement) -> None:
        self.sent.append(ann)


def voice_of(halls: dict[str, HallConfig]) -> dict[str, VoiceSettings]:
    return {h: parse_voice(cfg.voice) for h, cfg in halls.items()}


def make(aredis: Redis, halls: dict[str, HallConfig], clock: FakeClock, cache: AudioCache,
         name: str, **kw: float) -> tuple[Dispatcher, Recorder]:
    rec = Recorder()
    return Dispatcher(aredis, voice_of(halls), cache, rec, clock, consumer=name, **kw), rec


async def call_tickets(store: TicketStore, count: int) -> list[str]:
    """Issue and call `count` tickets at windows 1-5 (finishing each); the call numbers."""
    for w in range(1, 6):
        await store.change_window("district", w, lambda win, now, w=w: model.login(
            win, f"S0{w}", now), "login")
    numbers = []
    for i in range(count):
        await store.issue("district", "QY-KB", Channel.KIOSK)
        window = i % 5 + 1
        called = await store.call_next("district", window)
        assert called is not None
        numbers.append(called.number)
        await store.start("district", window)
        await store.finish("district", window)
    return numbers


async def test_each_call_goes_to_one_dispatcher(aredis: Redis, store: TicketStore,
                                                halls: dict[str, HallConfig], clock: FakeClock,
                                                tmp_path: Path) -> None:
    cache = AudioCache(tmp_path)
    a, sent_a = make(aredis, halls, clock, cache, "app-a")
    b, sent_b = make(aredis, halls, clock, cache, "app-b")
    await a.ensure_group("district")
    await b.ensure_group("district")
    numbers = await call_tickets(store, 30)

    async def drain(d: Dispatcher) -> None:
        while await d.read("district", block_ms=200):
            await asyncio.sleep(0)  # let the other dispatcher take its turn

    await asyncio.gather(drain(a), drain(b))
    said = Counter(ann.number for ann in sent_a.sent + sent_b.sent)
    assert sorted(said) == sorted(numbers)
    assert set(said.values()) == {1}  # every call once, none twice
    pending = await aredis.xpending(DISTRICT.events, GROUP)
    assert pending["pending"] == 0  # everything (calls and other events) acknowledged


async def test_a_dead_dispatchers_calls_are_claimed(aredis: Redis, store: TicketStore,
                                                    halls: dict[str, HallConfig],
                                                    clock: FakeClock, tmp_path: Path) -> None:
    cache = AudioCache(tmp_path)
    alive, sent = make(aredis, halls, clock, cache, "alive", claim_idle=0.2)
    await alive.ensure_group("district")
    numbers = await call_tickets(store, 3)
    # The dead one read the entries and died before handling or acknowledging them.
    taken = await aredis.xreadgroup(GROUP, "dead", {DISTRICT.events: ">"}, count=1000)
    assert taken and len(taken[0][1]) > 3
    assert await alive.read("district", block_ms=50) == []
    assert await alive.claim("district") == []  # not idle long enough yet
    handled = await until(lambda: alive.claim("district"))  # idle past claim_idle: claimed
    assert [h.announcement.number for h in handled if h.outcome is Outcome.ENQUEUED
            and h.announcement] == numbers
    assert [a.number for a in sent.sent] == numbers
    assert (await aredis.xpending(DISTRICT.events, GROUP))["pending"] == 0


async def test_stale_calls_are_dropped(aredis: Redis, store: TicketStore,
                                       halls: dict[str, HallConfig], clock: FakeClock,
                                       tmp_path: Path) -> None:
    d, sent = make(aredis, halls, clock, AudioCache(tmp_path), "late")
    await d.ensure_group("district")
    await call_tickets(store, 1)
    clock.advance(61)  # the district's max_age_seconds is 60
    handled = await d.read("district", block_ms=50)
    assert [h.outcome for h in handled if h.announcement] == [Outcome.STALE]
    assert sent.sent == []


async def test_cached_audio_is_announced_at_once_and_only_once(
        aredis: Redis, store: TicketStore, halls: dict[str, HallConfig], clock: FakeClock,
        tmp_path: Path) -> None:
    cache = AudioCache(tmp_path)
    d, sent = make(aredis, halls, clock, cache, "warm")
    await d.ensure_group("district")
    await call_tickets(store, 1)
    entries = await aredis.xrange(DISTRICT.events)
    call_id, fields = next((i, f) for i, f in entries
                           if f[b"type"] == EventType.TICKET_CALLED.value.encode())
    first = await d.handle("district", call_id.decode(), fields)
    assert first.outcome is Outcome.ENQUEUED and first.announcement  # not cached yet
    cache.put(first.announcement.audio_key, chime_wav())  # audible, long enough
    again = await d.handle("district", call_id.decode(), fields)
    assert again.outcome is Outcome.ANNOUNCED
    twice = await d.handle("district", call_id.decode(), fields)
    assert twice.outcome is Outcome.ALREADY_SAID  # e.g. a second dispatcher after a claim
    announces = [f for _, f in await aredis.xrange(DISTRICT.events)
                 if f[b"type"] == EventType.ANNOUNCE.value.encode()]
    assert len(announces) == 1
    assert len(sent.sent) == 1


@pytest.mark.parametrize("bad", [
    b"RIFF....WAVE",  # unreadable
    Pcm(b"").wav(),  # empty: what a cancelled segment used to leave
    Pcm(b"\x00\x00" * 22050 * 3).wav(),  # three seconds of silence
    Pcm(b"\x10\x27" * 2000).wav(),  # a click, far too short for zh + en
])
async def test_a_bad_cached_file_is_never_played_but_made_again(
        aredis: Redis, store: TicketStore, halls: dict[str, HallConfig], clock: FakeClock,
        tmp_path: Path, bad: bytes) -> None:
    cache = AudioCache(tmp_path)
    d, sent = make(aredis, halls, clock, cache, "bad")
    await d.ensure_group("district")
    await call_tickets(store, 1)
    entries = await aredis.xrange(DISTRICT.events)
    call_id, fields = next((i, f) for i, f in entries
                           if f[b"type"] == EventType.TICKET_CALLED.value.encode())
    first = await d.handle("district", call_id.decode(), fields)
    assert first.announcement is not None
    cache.put(first.announcement.audio_key, bad)
    again = await d.handle("district", call_id.decode(), fields)
    assert again.outcome is Outcome.ENQUEUED  # to the worker, which makes it again
    assert not cache.has(first.announcement.audio_key)
    assert len(sent.sent) == 2  # the first (not cached) and this one
    assert not [f for _, f in await aredis.xrange(DISTRICT.events)
                if f[b"type"] == EventType.ANNOUNCE.value.encode()]


async def test_a_new_group_does_not_replay_old_calls(aredis: Redis, store: TicketStore,
                                                     halls: dict[str, HallConfig],
                                                     clock: FakeClock, tmp_path: Path) -> None:
    await call_tickets(store, 2)  # before any dispatcher existed
    d, sent = make(aredis, halls, clock, AudioCache(tmp_path), "fresh")
    await d.ensure_group("district")
    assert await d.read("district", block_ms=50) == []
    assert sent.sent == []
    await store.issue("district", "QY-KB", Channel.KIOSK)
    await store.call_next("district", 1)
    handled = await d.read("district", block_ms=200)
    assert [h.outcome for h in handled if h.announcement] == [Outcome.ENQUEUED]


async def until(read, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    """Poll ``read()`` until it returns something (Redis' idle times run on its own clock)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = await read()
        if found or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.05)


async def test_consumers_of_gone_processes_are_forgotten(aredis: Redis, store: TicketStore,
                                                        halls: dict[str, HallConfig],
                                                        clock: FakeClock, tmp_path: Path) -> None:
    d, _ = make(aredis, halls, clock, AudioCache(tmp_path), "current", claim_idle=0.1,
                forget_after=0.2)
    await d.ensure_group("district")
    await call_tickets(store, 1)
    taken = await aredis.xreadgroup(GROUP, "gone-idle", {DISTRICT.events: ">"}, count=1)
    await aredis.xack(DISTRICT.events, GROUP, taken[0][1][0][0])  # it finished its work
    await aredis.xreadgroup(GROUP, "gone-pending", {DISTRICT.events: ">"}, count=1)
    await d.read("district", block_ms=50)
    assert await until(lambda: d.forget_idle_consumers("district")) == ["gone-idle"]
    names = {c["name"].decode() for c in await aredis.xinfo_consumers(DISTRICT.events, GROUP)}
    assert names == {"current", "gone-pending"}  # its pending call is claimed first
    await d.claim("district")
    assert await d.forget_idle_consumers("district") == ["gone-pending"]


async def run_until_sent(d: Dispatcher, sent: Recorder, count: int) -> list[str]:
    """Run ``d``'s background loop until it has handed ``count`` calls to the worker."""
    task = asyncio.create_task(d.run())
    try:
        deadline = asyncio.get_running_loop().time() + 15
        while len(sent.sent) < count and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await asyncio.wait([task], timeout=3)
    return [a.number for a in sent.sent]


async def test_calls_of_a_dispatcher_killed_after_its_read_are_claimed_from_the_notes(
        aredis: Redis, store: TicketStore, halls: dict[str, HallConfig], clock: FakeClock,
        tmp_path: Path) -> None:
    """A dispatcher noted the rung hall, read its calls and was killed: a claim round over
    the noted halls only (the loop's usual round) says them."""
    alive, sent = make(aredis, halls, clock, AudioCache(tmp_path), "alive-notes",
                       claim_idle=0.2)
    await alive.ensure_groups(alive.halls)
    numbers = await call_tickets(store, 2)
    dead, _ = make(aredis, halls, clock, AudioCache(tmp_path), "killed")
    await dead.note(["district"])  # as its due loop does before reading
    taken = await aredis.xreadgroup(GROUP, "killed", {DISTRICT.events: ">"}, count=1000)
    assert taken and len(taken[0][1]) > 2
    assert "district" in await alive.recent_halls()

    async def claim_noted() -> list[Handled]:
        return await alive.claim_pending(await alive.recent_halls())

    handled = await until(claim_noted)  # idle past claim_idle
    assert [h.announcement.number for h in handled if h.announcement] == numbers
    assert [a.number for a in sent.sent] == numbers
    assert (await aredis.xpending(DISTRICT.events, GROUP))["pending"] == 0


async def test_calls_read_but_never_noted_are_claimed_by_the_full_look(
        aredis: Redis, store: TicketStore, halls: dict[str, HallConfig], clock: FakeClock,
        tmp_path: Path) -> None:
    """Killed between its read and its note: the hall is not among the noted ones, and the
    full look (a process's first claim round, then every ``full_rounds``) says the calls."""
    alive, sent = make(aredis, halls, clock, AudioCache(tmp_path), "alive-full",
                       claim_idle=0.2)
    await alive.ensure_groups(alive.halls)
    numbers = await call_tickets(store, 2)
    taken = await aredis.xreadgroup(GROUP, "killed-early", {DISTRICT.events: ">"}, count=1000)
    assert taken and len(taken[0][1]) > 2
    assert "district" not in await alive.recent_halls()
    assert await run_until_sent(alive, sent, 2) == numbers
    assert (await aredis.xpending(DISTRICT.events, GROUP))["pending"] == 0


async def test_one_process_sweeps_a_turn_and_a_lost_ring_is_said_once(
        aredis: Redis, store: TicketStore, halls: dict[str, HallConfig], clock: FakeClock,
        tmp_path: Path) -> None:
    """The sweep for lost rings is taken in turns (one process reads every hall per turn);
    with two processes running, a call whose ring was lost is said once."""
    a, sent_a = make(aredis, halls, clock, AudioCache(tmp_path), "turn-a", sweep=0.3)
    b, sent_b = make(aredis, halls, clock, AudioCache(tmp_path), "turn-b", sweep=0.3)
    assert await a.take_sweep() and not await b.take_sweep()
    deadline = asyncio.get_running_loop().time() + 10
    while not await b.take_sweep():  # the turn lapses (on Redis's clock: poll)
        assert asyncio.get_running_loop().time() < deadline, "the turn never lapsed"
        await asyncio.sleep(0.05)
    await a.ensure_groups(a.halls)
    tasks = [asyncio.create_task(d.run()) for d in (a, b)]
    try:
        numbers = await call_tickets(store, 1)  # no observer: its ring is lost
        while len(sent_a.sent) + len(sent_b.sent) < 1:
            assert asyncio.get_running_loop().time() < deadline + 10, "no sweep"
            await asyncio.sleep(0.05)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks, timeout=3)
    assert [x.number for x in sent_a.sent + sent_b.sent] == numbers
