"""The tide's state in Redis, read in one round trip and changed in one atomic step.

Every tide change (apply a decision, set the mode, propose, confirm, dismiss, override,
release) is one ``Txn`` of ticketing's commit mechanism: it is guarded by the version of
``hall:{h}:tide:state`` (and of every window it reads to decide), writes the window
change, the mode, the policy memory (toggle counts), the pending proposals, the
overrides and the recent-decisions list, and appends its one event. Nothing of a tide
change exists until that commit, so a process that dies before it leaves nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from hall.events import EventType
from hall.text import as_str
from ticketing.commit import Txn, dumps
from ticketing.keys import HallKeys
from ticketing.model import WindowState
from ticketing.records import window_from
from tide.keys import TideKeys
from tide.policy import Action, Memory
from tide.settings import Mode

RECENT_DECISIONS = 50
PENDING_SECONDS = 600.0  # a proposal nobody confirmed lapses after this


@dataclass(frozen=True)
class TideRead:
    """One consistent read of a hall's tide state and windows, with their versions."""

    hall: str
    ver: str
    mode: Mode
    memory: Memory
    overrides: dict[int, dict[str, Any]]
    pending: dict[str, dict[str, Any]]  # live proposals (lapsed ones left out)
    lapsed: tuple[str, ...]
    windows: dict[int, WindowState]
    window_vers: dict[int, str]

    def txn(self, *, memory: Memory | None = None, mode: Mode | None = None) -> Txn:
        """A Txn guarded by this read's tide version that bumps it (and drops lapsed
        proposals); the caller adds its writes."""
        keys, tk = HallKeys(self.hall), TideKeys(self.hall)
        txn = Txn(keys)
        txn.guard(tk.state, "ver", self.ver)
        fields: list[object] = ["ver", int(self.ver or 0) + 1]
        if memory is not None:
            fields += ["memory", dumps(memory.to_dict())]
        if mode is not None:
            fields += ["mode", mode.value]
        txn.op("HSET", tk.state, *fields)
        if self.lapsed:
            txn.op("HDEL", tk.pending, *self.lapsed)
        return txn

    def guard_windows(self, txn: Txn, numbers: list[int] | None = None) -> None:
        """Fail the commit if any of these windows (default: all) changed since the read."""
        keys = HallKeys(self.hall)
        for n in numbers if numbers is not None else sorted(self.windows):
            txn.guard(keys.window(n), "ver", self.window_vers[n])


def pending_ids(window: int) -> list[str]:
    """Every proposal id a window can have ("<window>:<action>")."""
    return [f"{window}:{a.value}" for a in Action]


def record(txn: Txn, hall: str, kind: EventType, at: float, data: dict[str, Any]) -> None:
    """Add the decision to the hall's recent-decisions list (in the same commit)."""
    tk = TideKeys(hall)
    txn.op("LPUSH", tk.decisions, dumps({"type": kind.value, "at": at, **data}))
    txn.op("LTRIM", tk.decisions, 0, RECENT_DECISIONS - 1)


async def read(redis: Redis, hall: str, window_numbers: list[int], default_mode: Mode,
               now: float) -> TideRead:
    """Tide state and every window of the hall, in one MULTI (a consistent snapshot)."""
    keys, tk = HallKeys(hall), TideKeys(hall)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hmget(tk.state, ["ver", "mode", "memory"])
        pipe.hgetall(tk.overrides)
        pipe.hgetall(tk.pending)
        for n in window_numbers:
            pipe.hmget(keys.window(n), ["ver", "json"])
        (ver, mode, memory), overrides, pending, *wins = await pipe.execute()
    proposals = {as_str(k): json.loads(v) for k, v in pending.items()}
    lapsed = tuple(k for k, v in proposals.items() if now - float(v["at"]) > PENDING_SECONDS)
    windows, vers = {}, {}
    for n, (wver, raw) in zip(window_numbers, wins, strict=True):
        windows[n] = window_from(n, raw)
        vers[n] = as_str(wver) if wver is not None else ""
    return TideRead(
        hall, as_str(ver) if ver is not None else "",
        Mode(as_str(mode)) if mode is not None else default_mode,
        Memory.from_dict(json.loads(memory)) if memory else Memory(),
        {int(as_str(k)): json.loads(v) for k, v in overrides.items()},
        {k: v for k, v in proposals.items() if k not in lapsed}, lapsed, windows, vers)
