"""The ``hall`` command: the verbs an operator uses (serve, worker, user add, config check …)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from hall.cli_support import CliError, redis_url_for
from hall.config import ConfigError, HallConfig, load_configured_halls, load_hall
from hall.errors import DomainError
from hall.private_files import PRIVATE_UMASK
from hall.settings import Settings, SettingsError


def cmd_serve(args: argparse.Namespace) -> int:
    from hall.app import create_app
    from hall.logs import configure_logging
    from hall.serving import serve

    settings = Settings.from_env(data_dir=Path(args.data) if args.data else None)
    os.umask(PRIVATE_UMASK)  # data folder, Redis files, audio cache: owner only (SECURITY.md)
    configure_logging(settings.log_format, args.log_level)
    halls = load_configured_halls(settings)
    base_url = f"http://{'127.0.0.1' if args.host in ('0.0.0.0', '::') else args.host}:{args.port}"
    # uvicorn re-raises the SIGTERM it caught once it has shut down, and a SIGTERM can also
    # come while the embedded Redis starts or the first start runs; Python's default action
    # would kill this process before the worker and the embedded Redis are stopped below,
    # leaving both running. Leave through the finally blocks instead.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    with redis_url_for(settings) as url:
        settings = Settings.from_env(data_dir=settings.data_dir, redis_url=url or None)
        worker: subprocess.Popen[bytes] | None = None
        try:
            credentials = asyncio.run(
                _bootstrap(settings, halls, settings.public_url or base_url))
            if settings.start_worker and args.worker:
                worker = _start_worker(url, settings)
            first = next(iter(halls))
            # JSON logs: these lines are log records too (one JSON object a line on stderr)
            say = logging.getLogger("hall").info if settings.log_format == "json" else print
            say(f"Hall is running: open {base_url}/ (hall board: {base_url}/h/{first}/board)")
            if credentials:
                say(f"First start: set-up links of the accounts and device links are in "
                    f"{credentials}")
            serve(create_app(settings, halls=halls), args.host, args.port, args.log_level,
                  json_logs=settings.log_format == "json", reuse_port=args.reuse_port,
                  uds=args.uds)
        finally:
            if worker and worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                worker.wait(timeout=15)
    return 0


async def _bootstrap(
    settings: Settings, halls: dict[str, HallConfig], base_url: str
) -> Path | None:
    from hall.bootstrap import ensure_initial_accounts
    from hall.redis_conn import async_client

    client = async_client(settings)
    try:
        return await ensure_initial_accounts(client, halls, settings.data_dir, base_url)
    finally:
        await client.aclose()


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _start_worker(url: str, settings: Settings) -> subprocess.Popen[bytes]:
    env = {**os.environ, "HALL_DATA": str(settings.data_dir), **({"REDIS_URL": url} if url else {})}
    return subprocess.Popen([sys.executable, "-m", "hall.cli", "worker"], env=env)


def cmd_worker(args: argparse.Namespace) -> int:
    from hall.jobs import QUEUES
    from hall.logs import configure_logging
    from hall.redis_conn import jobs_client

    settings = Settings.from_env()
    os.umask(PRIVATE_UMASK)
    configure_logging(settings.log_format)
    if not settings.external_redis:
        print("hall worker needs REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES (hall serve "
              "starts one for the embedded Redis)", file=sys.stderr)
        return 2
    connection = jobs_client(settings)  # on a cluster: RQ's slot (hall.redis_conn)
    from voice.worker import HallWorker  # speech in-process, other jobs forked

    HallWorker(list(QUEUES), connection=connection).work(with_scheduler=False)
    return 0


def _voice_warnings(cfg: HallConfig) -> list[str]:
    """Letters heard as digits, templates without a pause (voice.readings)."""
    from voice.readings import voice_warnings
    from voice.settings import parse_voice

    return voice_warnings(parse_voice(cfg.voice), [q.letter for q in cfg.queues])


def _check_tide(cfg: HallConfig) -> None:
    from tide.settings import parse_tide

    parse_tide(cfg.tide)


def _check_voice(cfg: HallConfig) -> None:
    from voice.settings import parse_voice

    parse_voice(cfg.voice)


def _check_calendar(cfg: HallConfig) -> None:
    from ticketing.calendars import problems

    found = problems(cfg)
    if found:
        raise ConfigError("", found)


def _calendar_warnings(cfg: HallConfig, on: str | None) -> list[str]:
    """Years of the booking horizon without a holiday file (ticketing.calendars)."""
    import time
    from datetime import datetime

    from hall.text import parse_day
    from ticketing.calendars import holiday_warnings

    now = (datetime.combine(parse_day(on, "--on"), datetime.min.time(), cfg.tz).timestamp()
           if on else time.time())
    return holiday_warnings(cfg, now)


# The tables other packages own, checked by `hall config check` (each raises ConfigError).
TABLE_CHECKS: list[Callable[[HallConfig], None]] = [_check_tide, _check_voice, _check_calendar]


def _hall_problems(cfg: HallConfig) -> list[str]:
    problems: list[str] = []
    for read_table in TABLE_CHECKS:  # each package checks its own table
        try:
            read_table(cfg)
        except ConfigError as exc:
            problems.extend(exc.problems)
    return problems


def _print_problems(name: str, problems: list[str]) -> None:
    print(f"{name}: {len(problems)} problem(s)")
    for problem in problems:
        print(f"  - {problem}")


def _hall_summary(cfg: HallConfig) -> str:
    return (f"{len(cfg.windows)} windows, {len(cfg.queues)} queues, {len(cfg.matters)} "
            f"matters, {len(cfg.staff)} staff")


def _check_province(name: str, on: str | None, seen: dict[str, str]) -> int:
    """A province file: its table, every template (fully, once: a generated hall is its
    template's copy with its own id, names and city), ids unique in the file and against
    the files checked before it."""
    from collections import Counter

    from hall.config.files import load_file
    from hall.config.province import template_path

    path = Path(name)
    halls = load_file(path)  # the province table, templates' fields, ids unique in the file
    per_template = Counter(cfg.template for cfg in halls.values())
    problems: list[str] = []
    templates: dict[str, HallConfig] = {}
    for template in per_template:
        assert template is not None
        cfg = load_hall(template_path(template, path.parent))
        templates[template] = cfg
        problems += [f"template '{template}': {p}" for p in _hall_problems(cfg)]
    clashes = [hall_id for hall_id in halls if hall_id in seen]
    if clashes:
        problems.append(f"hall ids: '{clashes[0]}' is already defined by {seen[clashes[0]]}"
                        + (f" (and {len(clashes) - 1} more)" if len(clashes) > 1 else ""))
    seen.update(dict.fromkeys(halls, name))
    if problems:
        _print_problems(name, problems)
        return 1
    cities = len({cfg.region for cfg in halls.values()})
    print(f"{name}: OK — province file, {len(halls)} halls from {len(templates)} template(s) "
          f"over {cities} cities, ids unique")
    for template, cfg in templates.items():
        print(f"  template '{template}': {per_template[template]} halls ({cfg.level.value}), "
              + _hall_summary(cfg))
        for warning in [*_voice_warnings(cfg), *_calendar_warnings(cfg, on)]:
            print(f"  warning (template '{template}'): {warning}")
    return 0


def cmd_config_check(args: argparse.Namespace) -> int:
    from hall.config.files import is_province_file

    worst = 0
    seen: dict[str, str] = {}  # hall id -> the file that defined it
    for name in args.files:
        try:
            if is_province_file(name):
                worst |= _check_province(name, args.on, seen)
                continue
            cfg = load_hall(name)
            problems = _hall_problems(cfg)
            if cfg.id in seen:
                problems.append(f"hall.id: '{cfg.id}' is already defined by {seen[cfg.id]}")
            seen.setdefault(cfg.id, name)
            if problems:
                raise ConfigError(name, problems)
        except ConfigError as exc:
            _print_problems(name, exc.problems)
            worst = 1
        else:
            print(f"{name}: OK — hall '{cfg.id}' ({cfg.level.value}), {_hall_summary(cfg)}")
            for warning in [*_voice_warnings(cfg), *_calendar_warnings(cfg, args.on)]:
                print(f"  warning: {warning}")
    return worst


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hall", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the web app (and, embedded, Redis and a worker)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--data", default=None, help="data folder for the embedded Redis (./var)")
    serve.add_argument("--no-worker", dest="worker", action="store_false",
                       help="do not start an RQ worker beside the app")
    serve.add_argument("--log-level", default="info")
    serve.add_argument("--reuse-port", action="store_true",
                       help="listen with SO_REUSEPORT: several processes share the port and "
                            "the kernel spreads connections over them (no proxy)")
    serve.add_argument("--uds", metavar="PATH",
                       help="also listen on a Unix socket at PATH, one per process, for a "
                            "proxy on the same host: a websocket frame costs a third of "
                            "loopback TCP's CPU (docs/DEPLOY.md)")
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="run an RQ worker (speech, reports)")
    worker.set_defaults(func=cmd_worker)

    config = sub.add_parser("config", help="hall definition files")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    check = config_sub.add_parser("check", help="explain every mistake in hall files and "
                                  "province files (every template, ids unique)")
    check.add_argument("files", nargs="+")
    check.add_argument("--on", metavar="YYYY-MM-DD", default=None,
                       help="check the calendar as on this day (default: today)")
    check.set_defaults(func=cmd_config_check)

    from hall.audit_cli import register as register_audit
    from hall.auth.cli import register as register_accounts
    from hall.province_cli import register as register_province
    from ticketing.cli import register as register_report
    from tide.cli import register as register_tide

    register_accounts(sub)
    register_tide(sub)
    register_audit(sub)
    register_report(sub)
    register_province(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except CliError as exc:
        print(f"hall {args.command}: {exc}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"hall file problem: {exc}", file=sys.stderr)
        return 2
    except SettingsError as exc:
        print(f"setting problem: {exc}", file=sys.stderr)
        return 2
    except DomainError as exc:  # refused by a store: its message is for people
        print(f"hall {args.command}: {exc.message}", file=sys.stderr)
        return 2
    except (RedisConnectionError, RedisTimeoutError) as exc:
        print(f"hall {args.command}: Redis is not reachable ({exc})", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
