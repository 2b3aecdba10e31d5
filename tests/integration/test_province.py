"""A province on one deployment: 20,000 halls generated from the templates.

The app loads them, starts, and serves one of them; the voice dispatcher reads them in a
few multi-stream commands, not one task per hall; tide leads are spread over processes.
"""

from __future__ import annotations

import asyncio
import time
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import redis
from redis.asyncio import Redis
from starlette.testclient import TestClient

from hall.app import create_app
from hall.auth import Role
from hall.calendar import local_day
from hall.config import ConfigError, HallConfig, load_halls
from hall.config.files import load_file
from hall.config.province import province_text
from hall.settings import Settings
from tests.conftest import PASSWORD, Accounts
from tests.support import FakeClock
from ticketing import model
from ticketing.appointments import BOOKED_HALLS, AppointmentKeys, AppointmentStore
from ticketing.booking_component import booked_halls, halls_with_bookings
from ticketing.model import Channel
from ticketing.store import TicketStore
from tide.controller import TideController
from tide.service import TideService
from voice.audio import AudioCache
from voice.component import VOICE
from voice.dispatcher import CALLS_CHANNEL, Dispatcher
from voice.phrases import Announcement
from voice.settings import parse_voice

session_loop = pytest.mark.asyncio(loop_scope="session")  # the aredis fixture's loop
PROVINCE = {"district": 20, "town": 1500, "village": 18480}


def province_file(tmp_path: Path, counts: dict[str, int], cities: int = 21) -> Path:
    path = tmp_path / "province.toml"
    path.write_text(province_text(counts, cities=cities), encoding="utf-8")
    return path


def test_a_province_file_generates_halls_from_the_templates(tmp_path: Path) -> None:
    halls = load_file(province_file(tmp_path, {"district": 2, "town": 3, "village": 4},
                                    cities=2))
    assert list(halls) == ["d00001", "d00002", "t00001", "t00002", "t00003",
                           "v00001", "v00002", "v00003", "v00004"]
    town = halls["t00003"]
    assert town.template == "town" and town.name_zh.endswith("00003")
    assert [h.region for h in halls.values()] == ["c01", "c02"] * 4 + ["c01"]
    # copies share the template's parts: nothing per hall but id, names and city
    assert halls["v00001"].windows is halls["v00004"].windows


def test_a_province_file_with_a_mistake_is_refused_with_its_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[province]\n[[province.halls]]\ntemplate = "castle"\ncount = 1\n'
                    'prefix = "x"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"province\.halls\[0\]\.template"):
        load_halls([path])
    path.write_text('[province]\n[[province.halls]]\ntemplate = "town"\ncount = -1\n'
                    'prefix = "x"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="count"):
        load_halls([path])


def test_twenty_thousand_halls_start_and_one_is_served(redis_url: str, tmp_path: Path) -> None:
    halls = load_halls([province_file(tmp_path, PROVINCE)])
    assert len(halls) == 20_000
    settings = Settings(redis_url=redis_url, start_worker=False, data_dir=tmp_path,
                        always_open=True)
    app = create_app(settings, halls=halls, clock=FakeClock())
    with TestClient(app, headers={"Origin": "http://testserver"}) as client:
        auth = app.state.services.auth
        kiosk = client.portal.call(  # type: ignore[union-attr]
            lambda: auth.add_device(Role.KIOSK, "v12345", "kiosk-1"))
        ticket = client.post("/api/halls/v12345/tickets", json={"matter": "CM-ZM"},
                             headers={"Authorization": f"Bearer {kiosk}"})
        assert ticket.status_code == 201, ticket.text
        assert ticket.json()["number"] == "A001"
        state = client.get("/api/halls/v12345/state").json()
        assert state["waiting"] == {"A": 1}
        # voice: four tasks whatever the number of halls; a call rings its hall at once
        runtime = app.state.services.get(VOICE)
        assert runtime.task is not None and not runtime.task.done()
        deadline = time.monotonic() + 60  # groups are made first, in pipelined batches
        while True:
            names = {t.get_name() for t in client.portal.call(_tasks)}  # type: ignore[union-attr]
            voice = {n for n in names if n.startswith("voice-")}
            if len(voice) > 1 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert voice == {"voice-dispatcher", "voice-listen", "voice-due", "voice-sweep",
                         "voice-claim"}
        assert not any(n.startswith("hub-reader") for n in names)  # nobody watches a hall
        runtime.dispatcher.sweep = 3600.0  # from now on only a ring can bring the call
        client.portal.call(lambda: auth.add_user(  # type: ignore[union-attr]
            "v12345-V01", PASSWORD, Role.CLERK, ("v12345",), "V01"))
        token = client.post("/api/login", json={"username": "v12345-V01",
                                                "password": PASSWORD}).json()["token"]
        clerk = {"Authorization": f"Bearer {token}"}
        assert client.post("/api/halls/v12345/windows/1/login", headers=clerk).status_code == 200
        called = client.post("/api/halls/v12345/windows/1/call-next", headers=clerk).json()
        assert called["ticket"]["number"] == "A001"
        sync = redis.Redis.from_url(redis_url)
        last = sync.xrevrange("hall:{v12345}:events", count=1)[0][0]
        deadline = time.monotonic() + 10
        while sync.xinfo_groups("hall:{v12345}:events")[0]["last-delivered-id"] != last:
            assert time.monotonic() < deadline, "the call was never read by the dispatcher"
            time.sleep(0.05)


async def _tasks() -> set[asyncio.Task[object]]:
    return asyncio.all_tasks()


@session_loop
async def test_tide_leads_are_spread_over_controllers(aredis: Redis, tmp_path: Path) -> None:
    halls = load_halls([province_file(tmp_path, {"town": 40})])
    store = TicketStore(aredis, halls, FakeClock())
    first, second = (TideController(aredis, TideService.for_halls(aredis, store))
                     for _ in range(2))
    assert sum((await first.step(run_policies=False)).values()) == 40  # alone: all of them
    assert sum((await second.step(run_policies=False)).values()) == 0  # all held
    # the first sees a second controller beat: it hands back what is beyond its share
    assert sum((await first.step(run_policies=False)).values()) == 20
    assert sum((await second.step(run_policies=False)).values()) == 20
    led = [await c.step(run_policies=False) for c in (first, second)]
    assert all(led[0][h] != led[1][h] for h in halls)  # one leader per hall
    await first.stop()  # its halls are free again: the other takes them (beyond its share)
    for _ in range(2):
        after = await second.step(run_policies=False)
    assert all(after.values())
    await second.stop()


@session_loop
async def test_the_booking_sweep_visits_only_halls_with_bookings(aredis: Redis,
                                                                 tmp_path: Path) -> None:
    halls = load_halls([province_file(tmp_path, {"village": 2000})])
    clock = FakeClock()
    store = AppointmentStore(aredis, TicketStore(aredis, halls, clock), clock, b"secret")
    assert await halls_with_bookings(store) == []
    cfg = halls["v01234"]
    tomorrow = local_day(clock.now + 86400, cfg.tz)
    await aredis.zadd(AppointmentKeys("v01234").day(tomorrow), {"booking-1": clock.now})
    assert await halls_with_bookings(store) == ["v01234"]


@session_loop
async def test_a_booking_notes_its_hall_for_the_sweep_until_three_days_after_its_slot(
        aredis: Redis, halls: dict[str, HallConfig], clock: FakeClock) -> None:
    """The sweep's halls come from ``appt:halls``, written before the booking itself (a
    process killed after booking leaves its hall noted); the no-show is marked from it."""
    def at(d: int, hh: int, mm: int = 0) -> float:
        return datetime(2026, 11, d, hh, mm, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()

    clock.now = at(18, 16)
    store = AppointmentStore(aredis, TicketStore(aredis, halls, clock), clock, b"secret")
    assert await booked_halls(store) == []
    await store.book("town", "MZ-JZ", date(2026, 11, 19), "0900", name="张三",
                     id_number="11010519491231002X")
    assert await booked_halls(store) == ["town"]
    clock.now = at(19, 9, 16)  # past its check-in window
    assert await booked_halls(store) == ["town"]
    assert await store.sweep_no_shows("town") == 1
    clock.now = at(22, 9, 1)  # three days after the slot: no longer swept
    assert await booked_halls(store) == []
    assert await aredis.zcard(BOOKED_HALLS) == 0


@session_loop
async def test_a_ring_from_another_process_brings_the_call_and_the_sweep_the_rest(
        aredis: Redis, store: TicketStore, tmp_path: Path) -> None:
    sent: list[Announcement] = []

    async def to_worker(ann: Announcement) -> None:  # stands in for the RQ queue
        sent.append(ann)

    voice = {h: parse_voice(cfg.voice) for h, cfg in store.halls.items()}
    dispatcher = Dispatcher(aredis, voice, AudioCache(tmp_path), to_worker, store.clock,
                            sweep=3600.0)
    task = asyncio.create_task(dispatcher.run())
    try:
        deadline = asyncio.get_running_loop().time() + 10
        while await aredis.pubsub_numsub(CALLS_CHANNEL) != [(CALLS_CHANNEL.encode(), 1)]:
            assert asyncio.get_running_loop().time() < deadline, "never listened"
            await asyncio.sleep(0.02)
        # a store with no voice observer: the other process that made the call
        await store.change_window("village", 1, lambda w, now: model.login(w, "V01", now))
        await store.issue("village", "CM-ZM", Channel.KIOSK)
        await store.call_next("village", 1)
        await asyncio.sleep(0.2)
        assert sent == []  # no ring yet, and the sweep is an hour away
        await aredis.publish(CALLS_CHANNEL, "village")
        while not sent:
            assert asyncio.get_running_loop().time() < deadline, "the ring was not heard"
            await asyncio.sleep(0.02)
        assert [a.hall for a in sent] == ["village"]
        # a ring lost: the sweep reads every hall
        await store.change_window("town", 1, lambda w, now: model.login(w, "T01", now))
        await store.issue("town", "SB-CB", Channel.KIOSK)
        await store.call_next("town", 1)
        dispatcher.sweep = 0.05
        while len(sent) < 2:
            assert asyncio.get_running_loop().time() < deadline + 10, "no sweep"
            await asyncio.sleep(0.02)
        assert [a.hall for a in sent] == ["village", "town"]
    finally:
        task.cancel()
        await asyncio.wait([task], timeout=2)


def test_hall_lists_page_and_the_city_view_sums_over_every_hall(redis_url: str,
                                                                tmp_path: Path) -> None:
    halls = load_halls([province_file(tmp_path, {"town": 6, "village": 30}, cities=3)])
    settings = Settings(redis_url=redis_url, start_worker=False, data_dir=tmp_path,
                        always_open=True)
    app = create_app(settings, halls=halls, clock=FakeClock())
    with TestClient(app, headers={"Origin": "http://testserver"}) as client:
        page = client.get("/api/halls?region=c02&limit=5").json()
        assert page["total"] == 12 and page["next_offset"] == 5
        assert [h["region"] for h in page["halls"]] == ["c02"] * 5
        rest = client.get("/api/halls?region=c02&limit=5&offset=10").json()
        assert len(rest["halls"]) == 2 and rest["next_offset"] is None
        assert client.get("/api/halls?limit=0").status_code == 422
        assert client.get("/api/halls?level=castle").status_code == 422
        accounts = Accounts(client)
        kiosk = accounts.device(Role.KIOSK, "v00030")
        for _ in range(3):
            client.post("/api/halls/v00030/tickets", json={"matter": "CM-ZM"}, headers=kiosk)
        admin = accounts.user("boss", Role.ADMIN)
        city = client.get("/api/city?limit=4&level=village", headers=admin).json()
        assert city["total"] == 30 and len(city["halls"]) == 4 and city["next_offset"] == 4
        # totals per city over all 30 village halls, not only the page shown
        assert city["regions"]["c03"]["halls"] == 10
        assert sum(r["halls"] for r in city["regions"].values()) == 30
        v30 = halls["v00030"].region
        assert city["regions"][v30]["waiting"] == 3 == city["regions"][v30]["issued_today"]


def test_the_index_page_shows_the_first_halls_and_points_to_the_city_view(
        redis_url: str, tmp_path: Path) -> None:
    halls = load_halls([province_file(tmp_path, {"village": 120})])
    settings = Settings(redis_url=redis_url, start_worker=False, data_dir=tmp_path,
                        always_open=True)
    with TestClient(create_app(settings, halls=halls, clock=FakeClock())) as client:
        page = client.get("/?lang=en").text
        assert page.count('class="index-hall"') == 50
        assert "and 70 more halls" in page and 'href="/city"' in page
