"""200 clients booking the last 10 places of a day at once, through two real app processes."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from datetime import date, timedelta

import httpx
import redis
from redis.asyncio import Redis as AsyncRedis

from hall.auth import AuthStore, Role
from hall.config import bundled_hall_files, load_halls
from tests.support import AppProcess
from ticketing.appointments import AppointmentKeys
from ticketing.calendars import appointment_settings, hall_calendar
from ticketing.slots import day_slots, per_slot

HALL, MATTER = "district", "YB-BX"
CLIENTS, LEFT = 200, 10


def next_bookable_day(cfg_day: date) -> date:
    cfg = load_halls(bundled_hall_files())[HALL]
    cal = hall_calendar(cfg)
    day = cfg_day + timedelta(days=1)
    while not cal.periods_on(day):
        day += timedelta(days=1)
    return day


async def clerk_token(redis_url: str) -> str:
    client = AsyncRedis.from_url(redis_url)
    try:
        auth = AuthStore(client)
        await auth.add_user("district-booker", "correct horse battery", Role.CLERK, (HALL,), "S01")
        token, _ = await auth.login("district-booker", "correct horse battery")
        return token
    finally:
        await client.aclose()


async def test_exactly_the_last_places_are_booked(redis_url: str,
                                                  two_apps: list[AppProcess]) -> None:
    token = await clerk_token(redis_url)
    headers = {"Authorization": f"Bearer {token}"}
    cfg = load_halls(bundled_hall_files())[HALL]
    cal = hall_calendar(cfg)
    settings = appointment_settings(cfg)
    day = next_bookable_day(cal.local(time.time()).date())
    base = [app.base_url for app in two_apps]
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=400)) as http:
        listed = (await http.get(f"{base[0]}/api/halls/{HALL}/appointments/slots",
                                 params={"matter": MATTER, "day": day.isoformat()})).json()
        places = [s["slot"] for s in listed["slots"] for _ in range(s["capacity"])]
        total = len(places)
        # the walk-in share is never offered: the day's places are its bookable share only
        exact = per_slot(cfg, MATTER, settings.slot_minutes, settings.walk_in_share)
        assert total == int(exact * len(day_slots(cal, day, settings.slot_minutes)) + 1e-9)
        assert total > LEFT
        # fill all but the last LEFT places, one identity each
        for i, slot in enumerate(places[: total - LEFT]):
            made = await http.post(f"{base[i % 2]}/api/halls/{HALL}/appointments", headers=headers,
                                   json={"matter": MATTER, "day": day.isoformat(), "slot": slot,
                                         "name": "预填", "phone": f"1390000{i:04d}"})
            assert made.status_code == 201, made.text
        free = sorted(set(places[total - LEFT:]))
        rng = random.Random(7)

        async def client(i: int) -> tuple[int, str]:
            response = await http.post(
                f"{base[i % 2]}/api/halls/{HALL}/appointments", headers=headers,
                json={"matter": MATTER, "day": day.isoformat(), "slot": rng.choice(free),
                      "name": "抢号", "phone": f"1380000{i:04d}"})
            return response.status_code, response.json().get("error", {}).get("code", "")

        results = await asyncio.gather(*(client(i) for i in range(CLIENTS)))
    outcome = Counter(results)
    assert outcome[(201, "")] == LEFT, outcome
    assert set(outcome) <= {(201, ""), (409, "slot_full")}, outcome
    # none oversold: every slot's count and the day's bookings agree with the capacities
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    keys = AppointmentKeys(HALL)
    held = {k: int(v) for k, v in r.hgetall(keys.slots(day.strftime("%Y%m%d"), MATTER)).items()}
    capacity = Counter(places)
    assert held == dict(capacity)
    assert r.zcard(keys.day(day.strftime("%Y%m%d"))) == total
    events = [f for _, f in r.xrange(f"hall:{{{HALL}}}:events")
              if f["type"] == "appointment.booked"]
    assert len(events) == total
