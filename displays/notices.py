"""Hall notices (大厅公告): the hall file's standing lines plus notices a manager posts and
withdraws live from the dashboard; every board shows them in its language.

    GET    /api/halls/{hall}/notices           anyone: the notices now shown (public form)
    POST   /api/halls/{hall}/notices           manager, admin: {text_zh, text_en?} → 201
    DELETE /api/halls/{hall}/notices/{notice}  manager, admin: withdraw a posted notice

A notice is a change of state: storing (or deleting) it in the hall's notice hash and
appending its ``hall.notice`` event happen in one atomic step (``ticketing.commit``).
The event's data is ``{"action": "posted" | "withdrawn", "notice": <public notice>}``;
the public notice is ``{"nid", "zh", "en", "at", "fixed"}`` (who posted it is kept in the
stored record only). Boards apply the events live, so nothing needs a restart.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from redis.asyncio import Redis
from starlette.requests import Request
from starlette.responses import JSONResponse

from hall.auth import Role, require
from hall.config import HallConfig
from hall.errors import Invalid, NotFound
from hall.events import EventType
from hall.http import F, api, caller, read_body
from hall.services import services
from hall.text import as_str
from ticketing.commit import Committer, Conflict, Txn, dumps
from ticketing.keys import HallKeys
from ticketing.public import NoticeList, PublicNotice, Withdrawn
from ticketing.store import STORE

MANAGERS = (Role.ADMIN, Role.MANAGER)
MAX_POSTED = 20
NOTICE_FIELDS = (
    F("text_zh", str, max_length=200, description="the notice in Chinese"),
    F("text_en", str, required=False, max_length=300,
      description="the notice in English (without it the English board does not show it)"),
)


def standing(cfg: HallConfig) -> list[dict[str, Any]]:
    """The hall file's notices, in both languages where the file gives both."""
    en = list(cfg.notices_en)
    return [{"nid": f"hall-{i}", "zh": text, "en": en[i] if i < len(en) else "",
             "at": 0.0, "fixed": True} for i, text in enumerate(cfg.notices)]


def public(record: dict[str, Any]) -> dict[str, Any]:
    return {"nid": record["nid"], "zh": record["zh"], "en": record.get("en", ""),
            "at": record.get("at", 0.0), "fixed": False}


async def current(redis: Redis, cfg: HallConfig) -> list[dict[str, Any]]:
    """Every notice shown now: the standing ones, then the posted ones oldest first."""
    raw = await redis.hgetall(HallKeys(cfg.id).notices)
    posted = sorted((json.loads(as_str(v)) for v in raw.values()), key=lambda r: r["at"])
    return [*standing(cfg), *(public(r) for r in posted)]


async def post(redis: Redis, committer: Committer, cfg: HallConfig, by: str, text_zh: str,
               text_en: str | None) -> dict[str, Any]:
    zh, en = text_zh.strip(), (text_en or "").strip()
    if not zh:
        raise Invalid("a notice needs its Chinese text", code="invalid_field")
    keys = HallKeys(cfg.id)
    if await redis.hlen(keys.notices) >= MAX_POSTED:
        raise Invalid(f"a hall shows at most {MAX_POSTED} posted notices; withdraw one first",
                      code="too_many_notices")
    nid = secrets.token_hex(6)
    record = {"nid": nid, "zh": zh, "en": en, "at": committer.clock(), "by": by}
    txn = Txn(keys)
    txn.guard(keys.notices, nid, "")  # a fresh id
    txn.op("HSET", keys.notices, nid, dumps(record))
    notice = public(record)
    await committer.commit(txn, EventType.NOTICE, {"action": "posted", "notice": notice})
    return notice


async def withdraw(redis: Redis, committer: Committer, cfg: HallConfig, nid: str) -> None:
    keys = HallKeys(cfg.id)
    raw = await redis.hget(keys.notices, nid)
    if raw is None:
        raise NotFound("no such notice (notices from the hall file are changed there)",
                       code="unknown_notice")
    txn = Txn(keys)
    txn.guard(keys.notices, nid, as_str(raw))  # withdrawn once, even by two managers at once
    txn.op("HDEL", keys.notices, nid)
    notice = public(json.loads(as_str(raw)))
    try:
        await committer.commit(txn, EventType.NOTICE, {"action": "withdrawn", "notice": notice})
    except Conflict:
        raise NotFound("this notice was already withdrawn", code="unknown_notice") from None


@api("GET", "/api/halls/{hall}/notices", "The hall's notices now shown on its boards",
     "anyone", tag="halls", response=NoticeList)
async def list_notices(request: Request) -> JSONResponse:
    store = services(request).get(STORE)
    cfg = store.hall(request.path_params["hall"])
    return JSONResponse({"notices": await current(store.redis, cfg)})


@api("POST", "/api/halls/{hall}/notices", "Post a hall notice; boards show it at once",
     "manager, admin", NOTICE_FIELDS, tag="halls", ok=201, response=PublicNotice)
async def post_notice(request: Request) -> JSONResponse:
    store = services(request).get(STORE)
    cfg = store.hall(request.path_params["hall"])
    who = require(await caller(request), cfg.id, *MANAGERS)
    body = await read_body(request, NOTICE_FIELDS)
    notice = await post(store.redis, store.committer, cfg, who.name, body["text_zh"],
                        body["text_en"])
    return JSONResponse(notice, status_code=201)


@api("DELETE", "/api/halls/{hall}/notices/{notice}", "Withdraw a posted hall notice",
     "manager, admin", tag="halls", response=Withdrawn)
async def withdraw_notice(request: Request) -> JSONResponse:
    store = services(request).get(STORE)
    cfg = store.hall(request.path_params["hall"])
    require(await caller(request), cfg.id, *MANAGERS)
    await withdraw(store.redis, store.committer, cfg, str(request.path_params["notice"]))
    return JSONResponse({"withdrawn": request.path_params["notice"]})


routes = [list_notices, post_notice, withdraw_notice]
