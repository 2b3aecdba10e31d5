"""The ``hall report`` commands: roll a day up now, or print a report (JSON or CSV)."""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sys
import time
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("report", help="daily aggregates and reports (好差评, waits, counts)")
    report_sub = p.add_subparsers(dest="report_command", required=True)
    roll = report_sub.add_parser("rollup", help="store a day's aggregate now (as the RQ job)")
    roll.add_argument("--hall", required=True)
    roll.add_argument("--day", required=True, help="YYYY-MM-DD")
    roll.add_argument("--data", default=None)
    roll.set_defaults(func=_rollup)
    show = report_sub.add_parser("show", help="print a hall's report for a date range")
    show.add_argument("--hall", required=True)
    show.add_argument("--from", dest="first", required=True, help="YYYY-MM-DD")
    show.add_argument("--to", dest="last", help="YYYY-MM-DD (default: --from)")
    show.add_argument("--csv", action="store_true", help="CSV instead of JSON")
    show.add_argument("--data", default=None)
    show.set_defaults(func=_show)


async def _with_store(url: str, action: Any) -> Any:
    from redis.asyncio import Redis

    from hall.app import load_configured_halls
    from hall.settings import Settings
    from ticketing.report_store import ReportStore
    from ticketing.store import TicketStore

    client = Redis.from_url(url)
    try:
        store = TicketStore(client, load_configured_halls(Settings.from_env()), time.time)
        return await action(ReportStore(client, store))
    finally:
        await client.aclose()


def _url(args: argparse.Namespace) -> Any:
    from pathlib import Path

    from hall.cli import redis_url_for
    from hall.settings import Settings

    return redis_url_for(Settings.from_env(data_dir=Path(args.data) if args.data else None))


def _days(*pairs: tuple[str | None, str]) -> list[Any] | None:
    from hall.errors import DomainError
    from ticketing.report_store import parse_day

    try:
        return [parse_day(text, name) if text else None for text, name in pairs]
    except DomainError as exc:
        print(exc.message, file=sys.stderr)
        return None


def _rollup(args: argparse.Namespace) -> int:
    parsed = _days((args.day, "day"))
    if parsed is None:
        return 2
    day = parsed[0].strftime("%Y%m%d")
    with _url(args) as url:
        agg = asyncio.run(_with_store(url, lambda r: r.rollup(args.hall, day)))
    total = agg["groups"]["all"].get("", {})
    print(f"{args.hall} {day}: issued {total.get('issued', 0)}, served {total.get('served', 0)}")
    return 0


def _show(args: argparse.Namespace) -> int:
    from ticketing import reports

    parsed = _days((args.first, "from"), (args.last, "to"))
    if parsed is None:
        return 2
    first, last = parsed[0], parsed[1] or parsed[0]
    with _url(args) as url:
        report = asyncio.run(_with_store(url, lambda r: r.report(args.hall, first, last)))
    if args.csv:
        csv.writer(sys.stdout).writerows(reports.csv_rows(report, report["names"]))
    else:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0
