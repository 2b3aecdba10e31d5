"""The first start (``hall.bootstrap``) on a real Redis: every account gets a single-use,
expiring set-up link built from the public address, never a password; Redis keeps only
each token's SHA-256; an admin gives a fresh link once one expired; two processes starting
together create the accounts once."""

from __future__ import annotations

import asyncio
import hashlib
import re
import stat
import time
from pathlib import Path

import pytest
from redis.asyncio import Redis as AsyncRedis

from hall.auth import AuthStore
from hall.auth.accounts import SETUP, SETUP_HOURS, SetupLinkInvalid
from hall.auth.principal import Unauthorized
from hall.bootstrap import CREDENTIALS_FILE, ensure_initial_accounts
from hall.config import HallConfig

pytestmark = pytest.mark.asyncio(loop_scope="session")  # the aredis fixture's loop

BASE = "https://hall.example.gov.cn"
LINE = re.compile(r"(\S+)  set-up link: (\S+)")


def tokens_of(text: str) -> dict[str, str]:
    return {user: link.split("#setup=", 1)[1] for user, link in LINE.findall(text)}


async def everything_stored(redis: AsyncRedis) -> str:
    """Every key name and value in the database, as one text (strings, hashes, sets)."""
    parts = []
    async for key in redis.scan_iter(count=1000):
        parts.append(key.decode())
        kind = (await redis.type(key)).decode()
        if kind == "string":
            parts.append((await redis.get(key)).decode(errors="replace"))
        elif kind == "hash":
            parts += [f"{k!r}{v!r}" for k, v in (await redis.hgetall(key)).items()]
        elif kind == "set":
            parts += [repr(m) for m in await redis.smembers(key)]
    return "\n".join(parts)


async def test_first_start_writes_setup_links_not_passwords(
        aredis: AsyncRedis, halls: dict[str, HallConfig], tmp_path: Path) -> None:
    data = tmp_path / "data"
    before = time.time()
    path = await ensure_initial_accounts(aredis, halls, data, BASE + "/")
    assert path == data / CREDENTIALS_FILE
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text(encoding="utf-8")
    assert "password:" not in text
    assert not [p for p in data.iterdir() if p.name.startswith(".")]  # no temporary left

    tokens = tokens_of(text)
    auth = AuthStore(aredis)
    accounts = {u["username"] for u in await auth.users()}
    assert set(tokens) == accounts and "admin" in accounts and "district-S01" in accounts
    for user, link in LINE.findall(text):
        assert link == f"{BASE}/account#setup={tokens[user]}", link
    assert len(set(tokens.values())) == len(tokens)  # one link per account

    # the expiry is stated: SETUP_HOURS after the start, to the minute
    stated = re.search(r"stop working at (\d{4}-\d\d-\d\d \d\d:\d\d)", text)
    assert stated, text[:600]
    at = time.mktime(time.strptime(stated.group(1), "%Y-%m-%d %H:%M"))
    assert before + SETUP_HOURS * 3600 - 60 <= at <= time.time() + SETUP_HOURS * 3600
    assert "hall user passwd" in text  # how to get a new one

    # Redis holds only each token's SHA-256
    stored = await everything_stored(aredis)
    for token in tokens.values():
        assert token not in stored
        assert await aredis.exists(SETUP + hashlib.sha256(token.encode()).hexdigest())

    # a link works once; nobody can sign in before
    with pytest.raises(Unauthorized):  # no password yet
        await auth.login("district-S01", "anything at all 123")
    _, principal = await auth.complete_setup(tokens["district-S01"], "the clerk's own words")
    assert principal.name == "district-S01"
    with pytest.raises(SetupLinkInvalid):
        await auth.complete_setup(tokens["district-S01"], "the clerk's other words")

    # a link past its expiry is refused; the admin's reset (`hall user passwd`, the admin
    # page) gives a fresh one that works
    later = AuthStore(aredis, clock=lambda: time.time() + (SETUP_HOURS + 1) * 3600)
    with pytest.raises(SetupLinkInvalid):
        await later.setup_user(tokens["district-manager"])
    fresh, _ = await later.open_setup("district-manager")
    assert await later.setup_user(fresh) == "district-manager"

    # the next start leaves accounts and file alone
    assert await ensure_initial_accounts(aredis, halls, data, BASE) is None
    assert path.read_text(encoding="utf-8") == text


async def test_processes_starting_together_create_the_accounts_once(
        aredis: AsyncRedis, halls: dict[str, HallConfig], tmp_path: Path) -> None:
    written = await asyncio.gather(*(
        ensure_initial_accounts(aredis, halls, tmp_path / f"app{n}", BASE) for n in range(3)))
    paths = [p for p in written if p is not None]
    assert len(paths) == 1, written
    tokens = tokens_of(paths[0].read_text(encoding="utf-8"))
    auth = AuthStore(aredis)
    for user, token in tokens.items():  # every link of the file works (none was replaced)
        assert await auth.setup_user(token) == user
