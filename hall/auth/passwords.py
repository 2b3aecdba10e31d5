"""Passwords: the policy, and argon2 hashing in a small thread pool (never on the loop).

Policy: at least ``MIN_LENGTH`` characters; not a common password, compared
case-insensitively, also with digits and symbols stripped from the ends and with
look-alike digits read as letters (``p@ssw0rd``): the 30,000 most common passwords of
the zxcvbn package (Burnett's 10-million-password list, a well-known public source)
plus ``common-passwords.txt`` (pinyin and Chinese-context passwords; a deployment may
extend it); not one or two repeated characters; and not containing the account's own
words: its user name, display name (or a part of it), staff id, or the id or the whole
name of one of its halls.

argon2 takes tens of milliseconds of CPU; run on the event loop, 16 logins at once
stalled every request and socket of the process. ``hash_password`` and
``verify_password`` run in ``HASH_THREADS`` worker threads (argon2-cffi releases the
GIL), so logins queue among themselves and the loop keeps serving.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterable
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
    """The refused list: zxcvbn's 30,000 common passwords and the bundled file."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS  # ~0.8 MB: loaded on first use

    lines = COMMON_FILE.read_text(encoding="utf-8").splitlines()
    bundled = (line.strip().lower() for line in lines if line.strip()
               and not line.startswith("#"))
    return frozenset((*FREQUENCY_LISTS["passwords"], *bundled))


_ENDS = "0123456789!@#$%^&*()_-+=.,?~ "
_LOOK_ALIKE = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t",
                             "@": "a", "$": "s", "!": "i"})
MIN_WORD = 4  # shorter Latin words (a staff id "S01", "IT") would refuse too much
MIN_HAN_WORD = 2  # a Chinese name of two or three characters is a whole name


def _forms(password: str) -> set[str]:
    lowered = password.lower()
    compact = "".join(lowered.split())
    return {lowered, compact, lowered.strip(_ENDS), compact.strip(_ENDS),
            compact.translate(_LOOK_ALIKE), compact.strip(_ENDS).translate(_LOOK_ALIKE)}


def check_policy(password: str, username: str = "", words: Iterable[str] = ()) -> None:
    """Raise ``WeakPassword`` (422 ``weak_password``) with the reason, or return.

    ``words``: the account's other words (display name and its parts, staff id, hall ids
    and names), each refused whole inside the password like the user name; a hall's name
    is not split (its words, "service", "centre", are everyone's)."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"a password has at most {MAX_LENGTH} characters")
    forms = _forms(password)
    if forms & common_passwords():
        raise WeakPassword("this password is on the list of common passwords; choose another")
    if len(set(password.lower())) <= 2:
        raise WeakPassword("a password needs more than one or two different characters")
    if username and any(username.lower() in form for form in forms):
        raise WeakPassword("a password must not contain the user name")
    for word in _account_words(words):
        if any(word in form for form in forms):
            raise WeakPassword("a password must not contain your name, staff id or your "
                               "hall's name")


def _account_words(words: Iterable[str]) -> set[str]:
    """Each word whole (spaces removed, lower case); too short ones are skipped."""
    out: set[str] = set()
    for word in words:
        part = "".join(word.lower().split())
        if not part.isdigit() and len(part) >= (MIN_WORD if part.isascii() else MIN_HAN_WORD):
            out.add(part)
    return out


def generate_password() -> str:
    """A random password that passes the policy (about 96 bits)."""
    return secrets.token_urlsafe(12)


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        # no hash (an account awaiting its set-up link): the same work, never a match
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def hash_password(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(_pool, _hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; a missing hash costs the same time and is False."""
    return await asyncio.get_running_loop().run_in_executor(
        _pool, _verify, password_hash, password)
