"""``hall user …`` and ``hall device …``: accounts and devices from the command line.

    hall user add NAME --role clerk --hall district --staff S01   (set-up link printed)
    hall user list | passwd NAME | disable NAME | enable NAME | remove NAME

``add`` (without ``--password``) and ``passwd`` print a single-use set-up link that
expires (``--expires-hours``, default ``SETUP_HOURS``): the person opens it and sets their
own password (see ``hall.auth.accounts``); no password is ever printed.
    hall device add --hall district --kind kiosk [--expires-days N] [--groups a,b]
    hall device list | revoke ID-OR-NAME

Every change goes through ``AuthStore``, so it ends the account's sessions at once in
every app process, exactly as the admin routes do.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis

from hall.auth.accounts import SETUP_HOURS
from hall.cli_support import CliError, settings_from, with_redis
from hall.config import HallConfig, load_configured_halls


def _run(args: argparse.Namespace, action: Callable[[Any], Awaitable[Any]],
         halls: dict[str, HallConfig] | None = None) -> Any:
    """Run ``action(AuthStore)`` against the deployment's Redis (embedded or REDIS_URL);
    ``halls``: their names are refused in passwords."""
    from hall.auth import AuthStore
    from hall.auth.accounts import hall_names

    settings = settings_from(args)

    async def run(client: Redis) -> Any:
        auth = AuthStore(client, settings.session_hours,
                         idle_minutes=settings.session_idle_minutes,
                         hall_names=hall_names(halls or {}))
        try:
            result = await action(auth)
        except Exception as exc:
            await _audit(client, args, f"refused:{getattr(exc, 'code', type(exc).__name__)}")
            raise
        await _audit(client, args, "ok")
        return result

    return with_redis(settings, run)


async def _audit(client: Redis, args: argparse.Namespace, result: str) -> None:
    """Account and device changes from the command line go to the deployment's audit trail
    (actor ``cli:<OS user>``, role ``operator``); listings are not recorded."""
    import getpass

    from hall.audit_store import AuditTrail
    from hall.audit_trail import DEPLOYMENT, Entry

    command = getattr(args, "user_command", None) or getattr(args, "device_command", None)
    if command in (None, "list"):
        return
    kind = "user" if getattr(args, "user_command", None) else "device"
    target = getattr(args, "username", None) or getattr(args, "device", None) or \
        f"{getattr(args, 'kind', '')} of {getattr(args, 'hall', '')}"
    trail = AuditTrail(client, {})
    await trail.append(DEPLOYMENT, Entry(
        at=time.time(), actor=f"cli:{getpass.getuser()}", role="operator", source="local",
        action=f"{kind}.{command}", target=str(target), result=result,
        detail={k: v for k, v in (("role", getattr(args, "role", None)),
                                  ("halls", getattr(args, "hall", None))) if v}))


def check_user(args: argparse.Namespace, halls: dict[str, HallConfig]) -> None:
    """Refuse an account that names a hall or staff id the hall files do not have."""
    for hall_id in args.hall or ():
        if hall_id not in halls:
            raise CliError(f"--hall: no hall '{hall_id}' (known: {', '.join(halls)})")
    if args.role != "admin" and not args.hall:
        raise CliError(f"--hall: a {args.role} needs at least one hall")
    staff_id = args.staff or (args.username if args.role == "clerk" else None)
    if staff_id is None:
        return
    in_halls = [h for h in (args.hall or halls) if h in halls]
    if not any(halls[h].staff_member(staff_id) for h in in_halls):
        flag = "--staff" if args.staff else "--staff (default: the user name)"
        raise CliError(f"{flag}: no staff '{staff_id}' in hall(s) {', '.join(in_halls)}")


def _print_link(args: argparse.Namespace, username: str, token: str, expires: float) -> None:
    from hall.auth.accounts import expiry_text, setup_url

    url = args.url or settings_from(args).public_url or "http://localhost:8000"
    print(f"set-up link for {username} (works once, until {expiry_text(expires)}; hand it to "
          f"that person only):\n  {setup_url(url, token)}")


def cmd_user_add(args: argparse.Namespace) -> int:
    from hall.auth import Role

    halls = load_configured_halls(settings_from(args))
    check_user(args, halls)
    password = args.password
    if password == "-":
        password = sys.stdin.readline().rstrip("\n")
    if password is None and args.must_change:
        raise CliError("--must-change needs --password (without one, a set-up link is given)")

    async def add(auth: Any) -> tuple[str, float] | None:
        if not args.replace and await auth.has_user(args.username):
            raise CliError(f"user '{args.username}' exists; add --replace to overwrite it")
        await auth.add_user(args.username, password, Role(args.role), tuple(args.hall or ()),
                            args.staff, args.name or "", must_change=args.must_change)
        if password is None:
            link: tuple[str, float] = await auth.open_setup(args.username, args.expires_hours)
            return link
        return None

    link = _run(args, add, halls)
    print(f"user {args.username} ({args.role}) saved")
    if link is not None:
        _print_link(args, args.username, *link)
    return 0


def cmd_user_list(args: argparse.Namespace) -> int:
    users = _run(args, lambda a: a.users())
    print(f"{'user':<24} {'role':<8} {'halls':<20} {'staff':<8} state")
    for u in users:
        state = ", ".join(s for s, on in (("disabled", u["disabled"]),
                                          ("must change password", u["must_change"]),
                                          ("2FA", u["second_factor"])) if on) or "-"
        print(f"{u['username']:<24} {u['role']:<8} {','.join(u['halls']) or '*':<20} "
              f"{u['staff_id'] or '-':<8} {state}")
    return 0


def cmd_user_passwd(args: argparse.Namespace) -> int:
    link = _run(args, lambda a: a.open_setup(args.username, args.expires_hours))
    if args.reset_2fa:
        _run(args, lambda a: a.set_totp(args.username, None))
    print(f"{args.username}: the password no longer works and every session has ended")
    _print_link(args, args.username, *link)
    return 0


def _user_change(**change: Any) -> Callable[[argparse.Namespace], int]:
    def command(args: argparse.Namespace) -> int:
        if change.get("remove"):
            _run(args, lambda a: a.remove(args.username))
        else:
            _run(args, lambda a: a.update(args.username, **change))
        print(f"{args.username}: {'removed' if change.get('remove') else 'saved'}; "
              "its sessions ended")
        return 0

    return command


def cmd_device_add(args: argparse.Namespace) -> int:
    from hall.auth import Role

    halls = load_configured_halls(settings_from(args))
    cfg = halls.get(args.hall)
    if cfg is None:
        raise CliError(f"--hall: no hall '{args.hall}' (known: {', '.join(halls)})")
    if args.window is not None and cfg.window(args.window) is None:
        raise CliError(f"--window: hall '{args.hall}' has no window {args.window}")
    expires = time.time() + args.expires_days * 86400 if args.expires_days else None
    groups = tuple(g for g in (args.groups or "").split(",") if g) if args.groups else None
    token = _run(args, lambda a: a.add_device(Role(args.kind), args.hall, args.name or args.kind,
                                              args.window, expires=expires,
                                              priority_groups=groups))
    print(token)
    return 0


def cmd_device_list(args: argparse.Namespace) -> int:
    devices = _run(args, lambda a: a.tokens.devices())
    print(f"{'id':<13} {'kind':<8} {'hall':<10} {'window':<6} {'name':<24} expires")
    for d in devices:
        expires = "never" if d["expires"] is None else time.strftime(
            "%Y-%m-%d %H:%M", time.localtime(d["expires"])) + (" (expired)" if d["expired"]
                                                                 else "")
        print(f"{d['id']:<13} {d['kind']:<8} {d['hall']:<10} {d['window'] or '-'!s:<6} "
              f"{d['name']:<24} {expires}")
    return 0


def cmd_device_revoke(args: argparse.Namespace) -> int:
    gone = _run(args, lambda a: a.tokens.revoke_device(args.device))
    if not gone:
        print(f"no device '{args.device}'", file=sys.stderr)
        return 1
    print(f"revoked {', '.join(gone)} (effective at once)")
    return 0


def register(sub: Any) -> None:
    """Add the ``user`` and ``device`` commands to the ``hall`` parser."""
    user = sub.add_parser("user", help="staff accounts")
    users = user.add_subparsers(dest="user_command", required=True)
    add = users.add_parser("add", help="add or replace an account")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=["admin", "manager", "clerk", "auditor"])
    add.add_argument("--hall", action="append", help="a hall the account works in (repeat)")
    add.add_argument("--staff", help="staff id in the hall file (clerks)")
    add.add_argument("--name", help="display name")
    add.add_argument("--password", help="the password ('-': read a line from stdin; default: "
                     "none, and a single-use set-up link is printed)")
    add.add_argument("--replace", action="store_true",
                     help="overwrite an existing account of that name")
    add.add_argument("--must-change", action="store_true",
                     help="the given password must be changed at the first login")
    add.set_defaults(func=cmd_user_add)
    users.add_parser("list", help="every account (no secrets)").set_defaults(func=cmd_user_list)
    passwd = users.add_parser("passwd", help="reset: the password stops working, sessions "
                              "end, a new set-up link is printed")
    passwd.add_argument("username")
    passwd.add_argument("--reset-2fa", action="store_true",
                        help="also remove the second factor (the user enrols again)")
    passwd.set_defaults(func=cmd_user_passwd)
    for name, change, text in (("disable", {"disabled": True}, "refuse logins; sessions end"),
                               ("enable", {"disabled": False}, "allow logins again"),
                               ("remove", {"remove": True}, "delete the account")):
        verb = users.add_parser(name, help=text)
        verb.add_argument("username")
        verb.set_defaults(func=_user_change(**change))

    device = sub.add_parser("device", help="kiosks, rating pads, displays")
    devices = device.add_subparsers(dest="device_command", required=True)
    dadd = devices.add_parser("add", help="create a device token (printed once)")
    dadd.add_argument("--hall", required=True)
    dadd.add_argument("--kind", required=True, choices=["kiosk", "pad", "display", "phone"])
    dadd.add_argument("--window", type=int)
    dadd.add_argument("--name")
    dadd.add_argument("--expires-days", type=float, help="the token stops working after this")
    dadd.add_argument("--groups", help="kiosks: the priority groups it may issue (comma-"
                      "separated; default: every group of the hall)")
    dadd.set_defaults(func=cmd_device_add)
    devices.add_parser("list", help="every device (no tokens)").set_defaults(
        func=cmd_device_list)
    revoke = devices.add_parser("revoke", help="revoke by id or name; effective at once")
    revoke.add_argument("device")
    revoke.set_defaults(func=cmd_device_revoke)
    for parser in (add, passwd):
        parser.add_argument("--url", default=None,
                            help="the address staff open the hall at, for the set-up link "
                            "(default: HALL_PUBLIC_URL, else http://localhost:8000)")
        parser.add_argument("--expires-hours", type=float, default=float(SETUP_HOURS),
                            help="the set-up link stops working after this "
                            f"(default {SETUP_HOURS})")
    for parser in (add, passwd, dadd, revoke, *(users.choices[n] for n in
                                                ("list", "disable", "enable", "remove")),
                   devices.choices["list"]):
        parser.add_argument("--data", default=None, help="data folder of the embedded Redis")
