"""The ``hall simulate`` command: simulate hall days under tide policies and compare them."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser(
        "simulate", help="simulate a hall day under tide policies (runs the real rules)",
        description="Discrete-event simulation of hall days: per-queue waits, window-hours, "
                    "toggles, a CSV and an SVG plot per policy, and a comparison table.")
    p.add_argument("--hall", default="district", help="hall id (bundled or HALL_FILES)")
    p.add_argument("--hall-file", help="a hall TOML file instead of a configured hall")
    p.add_argument("--policy", default="off,threshold,predictive",
                   help="comma-separated policies to compare (off, threshold, predictive)")
    p.add_argument("--seeds", type=int, default=1, help="seeded days per policy")
    p.add_argument("--seed", type=int, default=1, help="first seed")
    p.add_argument("--scale", type=float, default=1.0, help="multiply every arrival rate")
    p.add_argument("--tickets", type=float, default=260.0,
                   help="tickets on an unscaled day (spread by the peak-day shape)")
    p.add_argument("--surge", action="append", default=[],
                   help="HH:MM-HH:MM:FACTOR[:MATTER,…], e.g. 10:00-10:30:1.5:SB-YLJ")
    p.add_argument("--out", default="var/sim", help="folder for CSV and SVG files")
    p.add_argument("--profile-from-history", action="store_true",
                   help="arrivals from the hall's own records for --day (same weekday, "
                        "after-holiday flag) instead of the peak-day shape")
    p.add_argument("--day", help="YYYY-MM-DD for --profile-from-history (default: tomorrow)")
    p.set_defaults(func=_run)

    q = sub.add_parser(
        "plan", help="tomorrow's staffing plan: windows per half hour for the wait target",
        description="Per half hour, which windows of each kind (no-difference, tide, and "
                    "domain windows the hall file lets it staff or lend) to staff and which "
                    "standby clerks, to meet the hall's wait target (P90) at the fewest "
                    "window-hours; searched and checked with the simulator on the forecast "
                    "from the hall's history (else the hall's [tide] pattern). Where the "
                    "hall's windows cannot reach the target, the plan says by how much.")
    q.add_argument("--hall", default="district", help="hall id (bundled or HALL_FILES)")
    q.add_argument("--day", help="YYYY-MM-DD (default: tomorrow in the hall's time zone)")
    q.add_argument("--tickets", type=float, default=None,
                   help="tickets on the day when there is no history (default: the "
                        "hall's usual volume)")
    q.add_argument("--no-history", action="store_true", help="ignore the hall's records")
    q.add_argument("--seeds", type=int, default=8,
                   help="simulated days to search on (as many again validate the plan)")
    q.add_argument("--check-seeds", type=int, default=40, help="other days to check on")
    q.add_argument("--json", action="store_true", help="print the plan as JSON")
    q.add_argument("--save", action="store_true",
                   help="keep the plan in Redis for the manager's dashboard")
    q.set_defaults(func=_plan)


def _parse_surge(text: str) -> Any:
    from hall.text import hours_of
    from tide.profiles import Surge

    try:
        start, rest = text.split("-", 1)
        parts = rest.split(":")
        names = tuple(x for x in (parts[3].split(",") if len(parts) > 3 else []) if x)
        return Surge(hours_of(start), hours_of(f"{parts[0]}:{parts[1]}"), float(parts[2]), names)
    except (ValueError, IndexError):
        raise SystemExit(f"--surge: expected HH:MM-HH:MM:FACTOR[:MATTERS], got {text!r}") from None


def _hall(name: str) -> Any:
    from hall.config import ConfigError, load_configured_halls
    from hall.settings import Settings

    try:
        halls = load_configured_halls(Settings.from_env())
    except ConfigError as exc:
        raise SystemExit(str(exc)) from None
    if name not in halls:
        raise SystemExit(f"no hall '{name}' (known: {', '.join(halls)})")
    return halls[name]


def _day(cfg: Any, text: str | None) -> Any:
    from datetime import date, datetime, timedelta

    if text is None:
        return datetime.now(cfg.tz).date() + timedelta(days=1)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise SystemExit(f"--day: expected YYYY-MM-DD, got {text!r}") from None


def _history_profile(cfg: Any, day: Any, base: Any) -> Any:
    """The forecast for ``day`` from the hall's records (None without history)."""
    from hall.calendar import national_calendar
    from hall.cli_support import with_redis
    from hall.settings import Settings
    from ticketing.record_archive import RecordArchive
    from tide.history import past_days, profile_for, read_history

    settings = Settings.from_env()

    async def read(client: Any) -> Any:
        return await read_history(client, cfg, past_days(day),
                                  RecordArchive(client, settings.data_dir))

    history = with_redis(settings, read)
    return profile_for(cfg, history, day, national_calendar(), base)


def _save(cfg: Any, body: dict[str, Any]) -> None:
    """Store the plan through the tide service (one commit with its tide.plan event)."""
    import time

    from hall.cli_support import with_redis
    from hall.settings import Settings
    from ticketing.store import TicketStore
    from tide.service import TideService

    async def save(client: Any) -> None:
        service = TideService.for_halls(client, TicketStore(client, {cfg.id: cfg}, time.time))
        await service.save_plan(cfg.id, body, by="hall plan")

    with_redis(Settings.from_env(), save)


def _plan(args: argparse.Namespace) -> int:
    import json

    from tide.plan import Planner, plan_table
    from tide.settings import parse_tide
    from tide.shapes import SHAPES, Shape, day_of

    cfg = _hall(args.hall)
    day = _day(cfg, args.day)
    settings = parse_tide(cfg.tide)
    shape = (Shape("hall", settings.hourly_profile) if len(settings.hourly_profile) == 24
             else SHAPES["flat"])
    profile = day_of(cfg, shape, args.tickets)
    source = "the hall's [tide] hourly pattern"
    if not args.no_history:
        found = _history_profile(cfg, day, profile)
        if found is not None:
            profile, source = found, "the hall's records (same weekday, after-holiday flag)"
    planner = Planner(cfg, profile, settings, search_seeds=range(1, 1 + args.seeds),
                      check_seeds=range(1001, 1001 + args.check_seeds))
    plan = planner.plan()
    body = {"day": day.isoformat(), "forecast": source, **plan.to_dict()}
    if args.save:
        _save(cfg, body)
    if args.json:
        print(json.dumps(body, ensure_ascii=False, indent=2))
    else:
        print(f"{day.isoformat()} — forecast from {source}")
        print(plan_table(body))
    return 0


def _run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from hall.config import ConfigError, load_configured_halls, load_hall
    from hall.settings import Settings
    from tide.profiles import DISTRICT_SHARES, PEAK_SHAPE, shaped_profile
    from tide.report import comparison_table, queue_table, summarize, write_day
    from tide.settings import PolicyName, parse_tide
    from tide.sim import simulate

    try:
        if args.hall_file:
            cfg = load_hall(args.hall_file)
        else:
            halls = load_configured_halls(Settings.from_env())
            if args.hall not in halls:
                raise SystemExit(f"no hall '{args.hall}' (known: {', '.join(halls)})")
            cfg = halls[args.hall]
        base = parse_tide(cfg.tide)
    except ConfigError as exc:
        raise SystemExit(str(exc)) from None
    try:
        policies = [PolicyName(p.strip()) for p in args.policy.split(",") if p.strip()]
    except ValueError:
        raise SystemExit("--policy: use off, threshold and/or predictive") from None
    shares = {q.letter: DISTRICT_SHARES.get(q.letter, 0.0) for q in cfg.queues}
    total = sum(shares.values())
    shares = ({q: v / total for q, v in shares.items()} if total > 0
              else {q.letter: 1.0 / len(cfg.queues) for q in cfg.queues})
    profile = shaped_profile(cfg, args.tickets, PEAK_SHAPE, shares, scale=args.scale,
                             surges=tuple(_parse_surge(s) for s in args.surge))
    if args.profile_from_history:
        day = _day(cfg, args.day)
        found = _history_profile(cfg, day, profile)
        if found is None:
            raise SystemExit(f"no ticket records of hall '{cfg.id}' in the 8 weeks "
                             f"before {day.isoformat()}")
        profile = found
        print(f"arrivals from the hall's records for {day.isoformat()}")
    out = Path(args.out)
    groups = {}
    for pol in policies:
        settings = replace(base, policy=pol)
        days = []
        for seed in range(args.seed, args.seed + args.seeds):
            day = simulate(cfg, settings, profile, seed)
            days.append(summarize(day, settings.target_wait_minutes))
            if seed == args.seed:
                files = write_day(day, out, f"{cfg.id}-{pol.value}-seed{seed}")
                print(f"== {pol.value}, seed {seed}: {', '.join(str(f) for f in files)}")
                print(queue_table(days[-1]))
                for at, d in day.decisions:
                    print(f"  {int(at // 3600):02d}:{int(at % 3600 // 60):02d} "
                          f"{d.action.value} window {d.window}: {d.reason_zh}")
        groups[pol.value] = days
    print()
    print(comparison_table(groups))
    return 0
