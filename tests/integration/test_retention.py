"""Retention by age: the roll-up (the RQ job's step) trims the event stream and lets a
day's records and day keys go after their retention, in one MULTI; aggregates stay."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta

import pytest
from redis.asyncio import Redis

from hall.config import HallConfig
from tests.support import FakeClock
from ticketing import model
from ticketing.keys import HallKeys
from ticketing.model import Channel
from ticketing.rating_store import RatingKeys
from ticketing.report_store import ReportStore, agg_key
from ticketing.store import TicketStore

pytestmark = pytest.mark.asyncio(loop_scope="session")

FIRST = date(2023, 11, 13)  # a Monday long before any machine's clock: expired at once
DAYS = 6


def short_lived(cfg: HallConfig, hall_id: str) -> HallConfig:
    rules = dataclasses.replace(cfg.rules, record_retention_days=1, stream_retention_days=2)
    return dataclasses.replace(cfg, id=hall_id, rules=rules)


async def a_day(store: TicketStore, clock: FakeClock, hall: str, day: date) -> list[str]:
    """Three tickets at 10:00 hall time; the first served at window 1."""
    clock.now = datetime(day.year, day.month, day.day, 10, tzinfo=store.halls[hall].tz) \
        .timestamp()
    ids = []
    for _ in range(3):
        ticket, _ = await store.issue(hall, "CM-ZM", Channel.KIOSK)
        ids.append(ticket.id)
        clock.advance(60)
    await store.change_window(hall, 1, lambda w, now: model.login(w, "V01", now))
    called = await store.call_next(hall, 1)
    # earlier days' tickets left waiting whose records expired are skipped and dropped
    assert called is not None and called.id == ids[0]
    await store.start(hall, 1)
    clock.advance(300)
    await store.finish(hall, 1)
    await store.change_window(hall, 1, lambda w, now: model.logout(w, now))
    return ids


async def test_old_streams_and_records_go_and_aggregates_stay(
        aredis: Redis, halls: dict[str, HallConfig]) -> None:
    village = short_lived(halls["village"], "old")
    kept = dataclasses.replace(halls["village"], id="kept")
    clock = FakeClock()
    store = TicketStore(aredis, {"old": village, "kept": kept}, clock)
    reports = ReportStore(aredis, store)
    keys = HallKeys("old")
    days = [FIRST + timedelta(days=i) for i in range(DAYS)]
    issued: dict[str, list[str]] = {}
    for day in days:
        issued[day.strftime("%Y%m%d")] = await a_day(store, clock, "old", day)
        clock.advance(86400 / 2)  # the evening: the day is over
        await reports.rollup("old", day.strftime("%Y%m%d"))
    # the stream keeps the two days before the last rolled day's end, nothing older
    last_end = datetime.combine(days[-1] + timedelta(days=1), datetime.min.time(),
                                village.tz).timestamp()
    # (by the events' own time: the stream ids carry the server's clock, not the hall's)
    ats = [float(fields[b"at"]) for _, fields in await aredis.xrange(keys.events)]
    assert ats and min(ats) >= last_end - 2 * 86400
    kept_days = {datetime.fromtimestamp(a, village.tz).date() for a in ats}
    assert kept_days == set(days[-2:]), "the last two days' events are all kept"
    # records and day keys of every day are gone (their retention, one day, is over) …
    for day, ids in issued.items():
        assert not await aredis.exists(keys.day_tickets(day), keys.day_numbers(day),
                                       keys.day_counters(day))
        assert not await aredis.exists(*[keys.ticket(i) for i in ids])
        assert not await aredis.exists(*[RatingKeys("old").rating(i) for i in ids])
    # … and the aggregates stay: the report over the six days still counts every ticket
    for day in issued:
        assert await aredis.exists(agg_key("old", day))
        assert await aredis.ttl(agg_key("old", day)) == -1  # kept for good
    clock.advance(86400)  # the next day: the six are all past days
    report = await reports.report("old", days[0], days[-1])
    assert report["total"]["issued"] == 3 * DAYS and report["total"]["served"] == DAYS

    # A hall with the default retention keeps yesterday's records for 180 days: a TTL.
    ids = await a_day(store, clock, "kept", date.today() - timedelta(days=1))
    yesterday = (date.today() - timedelta(days=1)).strftime("%Y%m%d")
    await reports.rollup("kept", yesterday)
    k = HallKeys("kept")
    for key in (k.ticket(ids[0]), k.day_tickets(yesterday), k.day_counters(yesterday)):
        assert 170 * 86400 < await aredis.ttl(key) <= 182 * 86400


async def test_a_rollup_after_the_records_expired_keeps_the_aggregate(
        aredis: Redis, halls: dict[str, HallConfig]) -> None:
    """A day rolled up again once its records are gone (a manager's roll-up of an old day,
    or a second job queued for it) must not replace its aggregate with an empty one."""
    clock = FakeClock()
    store = TicketStore(aredis, {"again": short_lived(halls["village"], "again")}, clock)
    reports = ReportStore(aredis, store)
    await a_day(store, clock, "again", FIRST)
    stamp = FIRST.strftime("%Y%m%d")
    await reports.rollup("again", stamp)
    assert not await aredis.exists(HallKeys("again").day_tickets(stamp))  # expired at once
    stored = await aredis.get(agg_key("again", stamp))
    again = await reports.rollup("again", stamp)
    assert await aredis.get(agg_key("again", stamp)) == stored
    assert again["groups"]["all"][""]["issued"] == 3
