"""The ``hall report`` commands: roll a day up now, or print a report (JSON or CSV)."""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any, TypeVar

from hall.cli_support import CliError, settings_from, with_redis
from hall.config import load_configured_halls

T = TypeVar("T")


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


def _with_reports(args: argparse.Namespace, action: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``action(ReportStore)`` on the configured Redis (URL, Sentinel or embedded)."""
    from ticketing.report_store import ReportStore
    from ticketing.store import TicketStore

    settings = settings_from(args)
    halls = load_configured_halls(settings)
    if args.hall not in halls:
        raise CliError(f"no hall '{args.hall}' (known: {', '.join(halls)})")

    async def run(client: Any) -> T:
        return await action(ReportStore(client, TicketStore(client, halls, time.time)))

    return with_redis(settings, run)


def _day(text: str, name: str) -> date:
    from hall.errors import DomainError
    from hall.text import parse_day

    try:
        return parse_day(text, name)
    except DomainError as exc:
        raise CliError(exc.message) from None


def _rollup(args: argparse.Namespace) -> int:
    day = _day(args.day, "day").strftime("%Y%m%d")
    agg = _with_reports(args, lambda r: r.rollup(args.hall, day))
    total = agg["groups"]["all"].get("", {})
    print(f"{args.hall} {day}: issued {total.get('issued', 0)}, served {total.get('served', 0)}")
    return 0


def _show(args: argparse.Namespace) -> int:
    from ticketing import reports

    first = _day(args.first, "from")
    last = _day(args.last, "to") if args.last else first
    report = _with_reports(args, lambda r: r.report(args.hall, first, last))
    if args.csv:
        csv.writer(sys.stdout).writerows(reports.csv_rows(report, report["names"]))
    else:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0
