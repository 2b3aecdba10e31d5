"""Passwords: the policy, and argon2 hashing in a small thread pool (never on the loop).

Policy: at least ``MIN_LENGTH`` characters, not on the bundled list of common
passwords (``common-passwords.txt``, compared case-insensitively, also with digits and
symbols stripped from the ends), not one repeated character, not the user name.

argon2 takes tens of milliseconds of CPU; run on the event loop, 16 logins at once
stalled every request and socket of the process. ``hash_password`` and
``verify_password`` run in ``HASH_THREADS`` worker threads (argon2-cffi releases the
GIL), so logins queue among themselves and the loop keeps serving.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from hall.errors import Invalid

MIN_LENGTH = 12
MAX_LENGTH = 256
HASH_THREADS = max(1, (os.cpu_count() or 2) // 2)
COMMON_FILE = Path(__file__).with_name("common-passwords.txt")
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
_pool = ThreadPoolExecutor(max_workers=HASH_THREADS, thread_name_prefix="argon2")
# verified against when the user does not exist, so both answers take as long
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class WeakPassword(Invalid):
    code = "weak_password"


@cache
def common_passwords() -> frozenset[str]:
    lines = COMMON_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip()
                     and not line.startswith("#"))


def check_policy(password: str, username: str = "") -> None:
    """Raise ``WeakPassword`` (422 ``weak_password``) with the reason, or return."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"a password has at most {MAX_LENGTH} characters")
    lowered = password.lower()
    core = lowered.strip("0123456789!@#$%^&*()_-+=.,?~ ")
    common = common_passwords()
    if lowered in common or core in common or lowered.replace(" ", "") in common:
        raise WeakPassword("this password is on the list of common passwords; choose another")
    if len(set(lowered)) <= 2:
        raise WeakPassword("a password needs more than one or two different characters")
    if username and username.lower() in lowered:
        raise WeakPassword("a password must not contain the user name")


def generate_password() -> str:
    """A random password that passes the policy (about 96 bits)."""
    return secrets.token_urlsafe(12)


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def hash_password(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(_pool, _hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; a missing hash costs the same time and is False."""
    return await asyncio.get_running_loop().run_in_executor(
        _pool, _verify, password_hash, password)
