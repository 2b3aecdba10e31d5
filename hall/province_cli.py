"""``hall province generate``: write a province file (halls generated from templates).

    hall province generate --district 20 --town 1500 --village 18000 --cities 21 -o province.toml

Point ``HALL_FILES`` at the file (beside any hall files): each template is read once and
every generated hall is a copy with its own id, name and city (``hall.config.province``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from hall.cli_support import CliError
from hall.config.files import load_file
from hall.config.province import TEMPLATES, province_text


def register(sub: Any) -> None:
    p = sub.add_parser("province", help="many halls generated from the bundled templates")
    province_sub = p.add_subparsers(dest="province_command", required=True)
    gen = province_sub.add_parser("generate", help="write a province file")
    for template in TEMPLATES:
        gen.add_argument(f"--{template}", type=int, default=0, metavar="N",
                         help=f"halls made from the {template} template")
    gen.add_argument("--cities", type=int, default=1, help="cities the halls are dealt over")
    gen.add_argument("-o", "--output", required=True, help="the province file to write")
    gen.set_defaults(func=cmd_generate)


def cmd_generate(args: argparse.Namespace) -> int:
    counts = {t: int(getattr(args, t)) for t in TEMPLATES}
    if any(n < 0 for n in counts.values()) or not any(counts.values()):
        raise CliError("give at least one of --district, --town, --village (N ≥ 0)")
    if args.cities < 1:
        raise CliError("--cities must be at least 1")
    out = Path(args.output)
    out.write_text(province_text(counts, cities=args.cities), encoding="utf-8")
    started = time.perf_counter()
    halls = load_file(out)  # checked as the app will load it
    print(f"{out}: {len(halls)} halls over {args.cities} cities "
          f"(loads in {time.perf_counter() - started:.2f} s)")
    return 0
