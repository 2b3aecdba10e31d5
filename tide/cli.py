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
    p.set_defaults(func=_run)


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
