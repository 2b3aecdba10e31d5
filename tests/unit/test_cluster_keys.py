"""CROSSSLOT impossible by construction: every key builder puts its key in one tag's slot.

A script or transaction of a hall takes its keys from these builders only, so all of
them hash to the slot of ``{<hall>}`` (a hall's devices too); an account's keys (its
sessions, its login failures) to its account's tag; RQ's to its prefix's tag.
Every public builder (method, property or function returning a key name) is found by
introspection and called with sample arguments, so a builder added later is checked too.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from redis.crc import key_slot

from hall import audit_store
from hall.auth import accounts, throttle, tokens
from hall.redis_conn import rq_slot
from hall.settings import Settings, SettingsError
from ticketing import notify, record_archive, remote_queue, report_store
from ticketing.appointments import AppointmentKeys
from ticketing.keys import HallKeys
from ticketing.rating_store import RatingKeys
from tide.keys import TideKeys
from voice import announce

HALLS = ("district", "a-b_9", "某区政务中心")  # ids allow letters, digits, '-', '_'
SAMPLES: dict[str, Any] = {"str": "x:{y}:z", "int": 7}
KEY_CLASSES = (HallKeys, TideKeys, RatingKeys, AppointmentKeys)
KEY_FUNCTIONS = (audit_store.day_key, audit_store.head_key, audit_store.days_key,
                 audit_store.archived_key, record_archive.records_index_key,
                 report_store.agg_key, report_store.agg_days_key, report_store.agg_counts_key,
                 remote_queue.remote_key, notify.sent_key, notify.dead_key,
                 announce.said_key, announce.synthesis_key, tokens.device_key,
                 tokens.hall_devices_key)


def slot(key: str) -> int:
    return key_slot(key.encode())


def _args(fn: Callable[..., Any], skip: int) -> list[Any]:
    params = list(inspect.signature(fn).parameters.values())[skip:]
    return [SAMPLES[str(p.annotation)] for p in params]


def hall_keys(hall: str) -> Iterator[tuple[str, str]]:
    """(builder name, key) for every builder of every key class and function."""
    for cls in KEY_CLASSES:
        keys = cls(hall)
        for name, member in inspect.getmembers(cls):
            if name.startswith("_"):
                continue
            if isinstance(member, property):
                yield f"{cls.__name__}.{name}", getattr(keys, name)
            elif inspect.isfunction(member):
                yield f"{cls.__name__}.{name}", getattr(keys, name)(*_args(member, 1))
    for fn in KEY_FUNCTIONS:
        yield fn.__name__, fn(hall, *_args(fn, 1))


@pytest.mark.parametrize("hall", HALLS)
def test_every_key_of_a_hall_is_in_the_halls_slot(hall: str) -> None:
    found = dict(hall_keys(hall))
    assert len(found) > 40  # the introspection found the builders
    tag = f"{{{hall}}}"
    for name, key in found.items():
        assert isinstance(key, str), name
        assert key.index("{") == key.index(tag), (name, key)  # the first tag is the hall's
        assert slot(key) == slot(tag), (name, key)


@pytest.mark.parametrize("user", ["alice", "Mal{lory}", "张.伟-2"])
def test_an_accounts_keys_share_its_tag(user: str) -> None:
    tag = tokens.account_tag(user)
    own = f"{{a:{tag}}}"
    token = f"s.{tag}.secret"  # a session token names its account's tag
    keys = [tokens.user_key(user), tokens.user_sessions_key(user), tokens.failures_key(user),
            tokens.session_key(tag, tokens.digest(token))]
    assert all(key.index("{") == key.index(own) for key in keys), keys
    assert {slot(key) for key in keys} == {slot(own)}
    # the session script reads the account as <session's account prefix> .. <user name>
    assert tokens.user_key(user).startswith(tokens.session_key(tag, "").split(":session:")[0])
    limiter = throttle.Throttle(None, lambda: 0.0)  # type: ignore[arg-type]
    (first, _), (by_address, _) = limiter._keys(user, "203.0.113.9")
    assert first == tokens.failures_key(user)
    assert by_address.index("{") == by_address.index("{addr:")


def test_keys_of_nobodys_slot_keep_auth() -> None:
    """Admin listings and set-up links: never read by an authenticated request."""
    keys = [accounts.USERS, accounts.SETUP + "ab", tokens.DEVICE_HALLS, tokens.DEVICE_HALL + "cd",
            tokens.LAYOUT]
    assert {slot(key) for key in keys} == {slot("{auth}")}, keys


@pytest.mark.parametrize("hall", [*HALLS, "xn--abc", "x.y"])
def test_a_device_token_names_its_hall(hall: str) -> None:
    if "." in hall:  # not a hall id: no token names it
        with pytest.raises(ValueError):
            tokens.hall_code(hall)
        assert tokens.hall_of_code(hall) is None
        return
    code = tokens.hall_code(hall)
    assert code.isascii() and "." not in code
    assert tokens.hall_of_code(code) == hall
    assert tokens.hall_of_code("xn--" + "\u00ff") is None  # not punycode: no hall


def test_rq_keys_need_a_tag_on_a_cluster() -> None:
    # this process imported rq with its default prefix "rq": no tag, so no cluster
    with pytest.raises(RuntimeError, match="RQ_KEY_PREFIX"):
        rq_slot()
    with pytest.raises(SettingsError, match="RQ_KEY_PREFIX"):
        Settings.from_env({"REDIS_CLUSTER_NODES": "127.0.0.1:7000"})
    s = Settings.from_env({"REDIS_CLUSTER_NODES": "n1:7000, n2:7001", "RQ_KEY_PREFIX": "{rq}"})
    assert s.redis_cluster_nodes == (("n1", 7000), ("n2", 7001)) and s.external_redis
    with pytest.raises(SettingsError, match="not both"):
        Settings.from_env({"REDIS_CLUSTER_NODES": "n1:7000", "RQ_KEY_PREFIX": "{rq}",
                           "REDIS_SENTINELS": "s1:26379"})
