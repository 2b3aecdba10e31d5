"""``hall audit verify``: check every hall's audit chain and name the first broken entry;
``hall audit archive``: move closed days to the data folder now (``hall.audit_archiver``).

Exit status 0 when every trail is intact, 1 when one is broken (the line names the
hall, the day and the entry number, and what is wrong).
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis

from hall.cli_support import settings_from, with_redis

if TYPE_CHECKING:
    from hall.audit_store import AuditTrail


def register(sub: Any) -> None:
    p = sub.add_parser("audit", help="the security audit trail (安全审计)")
    audit_sub = p.add_subparsers(dest="audit_command", required=True)
    verify = audit_sub.add_parser("verify", help="check the hash chains; name the first break")
    verify.add_argument("--hall", action="append",
                        help="a hall to check (repeat; default: every hall and the "
                             "deployment's own trail)")
    verify.add_argument("--data", default=None)
    verify.set_defaults(func=cmd_verify)
    archive = audit_sub.add_parser(
        "archive", help="move days older than HALL_ARCHIVE_AFTER_DAYS to the data folder and "
                        "delete archived files past retention (hall worker does it daily)")
    archive.add_argument("--hall", action="append",
                         help="a hall (repeat; default: every hall and the deployment's trail)")
    archive.add_argument("--data", default=None)
    archive.set_defaults(func=cmd_archive)


def cmd_archive(args: argparse.Namespace) -> int:
    import time

    from hall.audit_archiver import AuditArchiver

    async def archive(trail: AuditTrail, halls: list[str], after_days: int) -> int:
        swept = await AuditArchiver(trail).sweep(halls, after_days, time.time())
        print(f"archived {swept.archived} hall-days, deleted {swept.pruned} files past "
              f"retention, {swept.refused} halls failed (see the log)")
        return 1 if swept.refused else 0

    return _on_trail(args, archive)


def cmd_verify(args: argparse.Namespace) -> int:
    from hall.audit_trail import DEPLOYMENT

    async def verify(trail: AuditTrail, halls: list[str], _after_days: int) -> int:
        worst = 0
        for hall in halls:
            count, broken = await trail.verify(hall)
            name = "deployment" if hall == DEPLOYMENT else hall
            if broken is None:
                print(f"{name}: OK, {count} entries")
            else:
                print(f"{name}: BROKEN at {broken} ({count} entries before it are intact)")
                worst = 1
        return worst

    return _on_trail(args, verify)


def _on_trail(args: argparse.Namespace,
              act: Callable[[AuditTrail, list[str], int], Awaitable[int]]) -> int:
    """Run ``act`` on the deployment's audit trail (archived days read from the data folder)
    with the halls named by ``--hall``, by default every hall and the deployment's own
    trail, and the settings' ``archive_after_days``."""
    from hall.audit_store import AuditTrail
    from hall.audit_trail import DEPLOYMENT
    from hall.config import load_configured_halls

    settings = settings_from(args)
    configured = load_configured_halls(settings)

    async def run(client: Redis) -> int:
        trail = AuditTrail(client, {h: cfg.tz for h, cfg in configured.items()},
                           data_dir=settings.data_dir)
        return await act(trail, args.hall or [*configured, DEPLOYMENT],
                         settings.archive_after_days)

    return with_redis(settings, run)
