"""The ``hall simulate`` command."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    simulate = sub.add_parser("simulate", help="simulate a hall day under a tide policy")
    simulate.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    raise SystemExit("hall simulate: not built yet")
