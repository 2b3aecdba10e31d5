"""Appointments in Redis: slots claimed atomically, bookings, check-in, no-shows.

Booking a slot is ONE script (``scripts/claim.lua``): it checks the slot's count against
its capacity (``ticketing.slots``), the identity's open bookings per matter and per week,
and writes the booking, its code, its indexes and the ``appointment.booked`` event — so a
slot is never oversold however many app processes book at once, and nothing is written
when a check fails. Moving a booking to another slot is the same script (the old slot is
freed in the same step). Cancelling, checking in and marking no-shows go through the
generic atomic step (``ticketing.commit``) guarded by the booking's version.

Identity numbers are never stored: a booking keeps the keyed hash (``hall.identity``) and
the masked form. Events carry no name, phone or identity (``Booking.event_dict``).

Keys (hash tag ``{hall}``, beside ``ticketing.keys``)::

    hall:{h}:appt:b:<id>                 hash    booking: ver, status, json
    hall:{h}:appt:code:<CODE>            string  booking code -> booking id
    hall:{h}:appt:slots:<day>:<matter>   hash    slot label -> bookings held
    hall:{h}:appt:day:<day>              zset    booking ids of a day, by slot start
    hall:{h}:appt:id:<key>:open          hash    matter -> open bookings of an identity
    hall:{h}:appt:id:<key>:booked        zset    an identity's booking ids, by slot start
    hall:{h}:appt:id:<key>:noshow        zset    an identity's no-shows, by time
    hall:{h}:appt:ticket:<ticket id>     string  booking id of a checked-in ticket (2 days)
    hall:{h}:appt:pow:<sig>              string  a proof-of-work challenge already used
    appt:halls                           zset    hall -> latest slot start booked there
                                                 (written before the booking: the no-show
                                                 sweep's halls; trimmed by it after 3 days)
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from hall import identity
from hall.calendar import HallCalendar, local_day
from hall.config import HallConfig
from hall.errors import IllegalTransition, Invalid, NotFound
from hall.events import EventType
from hall.services import Key
from hall.text import as_str
from ticketing import booking_rules as br
from ticketing.booking_rules import AppointmentSettings, CheckIn
from ticketing.calendars import hall_parts
from ticketing.commit import SCRIPTS, STREAM_MAXLEN, Clock, Txn, dumps, retrying
from ticketing.estimate import Position
from ticketing.keys import HallKeys
from ticketing.model import Channel, Ticket
from ticketing.slots import SlotTime, day_slots, find_slot, slot_capacity
from ticketing.store import TicketStore

BOOKED_HALLS = "appt:halls"
TTL = 200 * 86400  # bookings and identity indexes outlive the no-show window's use
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L


class AppointmentKeys:
    """Key names of one hall's appointments (module doc)."""

    def __init__(self, hall: str) -> None:
        self.p = HallKeys(hall).prefix

    def booking(self, booking_id: str) -> str:
        return f"{self.p}:appt:b:{booking_id}"

    def code(self, code: str) -> str:
        return f"{self.p}:appt:code:{code}"

    def slots(self, day: str, matter: str) -> str:
        return f"{self.p}:appt:slots:{day}:{matter}"

    def day(self, day: str) -> str:
        return f"{self.p}:appt:day:{day}"

    def open(self, key: str) -> str:
        return f"{self.p}:appt:id:{key}:open"

    def booked(self, key: str) -> str:
        return f"{self.p}:appt:id:{key}:booked"

    def noshow(self, key: str) -> str:
        return f"{self.p}:appt:id:{key}:noshow"

    def ticket(self, ticket_id: str) -> str:
        return f"{self.p}:appt:ticket:{ticket_id}"

    def pow_used(self, signature: str) -> str:
        return f"{self.p}:appt:pow:{signature}"


@dataclass(frozen=True)
class Booking:
    id: str  # 128-bit capability: whoever holds it may see, change and cancel the booking
    code: str  # typed or scanned at the kiosk on the day
    hall: str
    matter: str
    day: str  # YYYYMMDD
    slot: str  # HHMM
    slot_start: float
    slot_end: float
    name: str
    phone: str  # '' when booked with an ID number only
    id_masked: str  # '' when booked with a phone number only
    identity: str  # keyed hash of the ID (or of the phone)
    status: str = "booked"  # booked, changed, cancelled, checked_in, late, no_show
    created_at: float = 0.0
    ticket_id: str | None = None
    checked_in_at: float | None = None
    lang: str = "zh"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Booking:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def public_dict(self) -> dict[str, Any]:
        """What the holder of the booking link sees: personal data masked."""
        return {"id": self.id, "code": self.code, "hall": self.hall, "matter": self.matter,
                "day": self.day, "slot": self.slot, "slot_start": self.slot_start,
                "slot_end": self.slot_end, "name": identity.mask_name(self.name),
                "phone": identity.mask_phone(self.phone) if self.phone else "",
                "id_number": self.id_masked, "status": self.status,
                "ticket_id": self.ticket_id, "lang": self.lang}

    def event_dict(self) -> dict[str, Any]:
        """What the event stream records: no name, phone, identity, code or capability."""
        return {"matter": self.matter, "day": self.day, "slot": self.slot,
                "slot_start": self.slot_start, "status": self.status}


def _day_str(day: date) -> str:
    return day.strftime("%Y%m%d")


def parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text) if "-" in text else datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        raise Invalid(f"day must look like 2026-12-01, got {text!r}",
                      code="invalid_field") from None


class AppointmentStore:
    """Bookings of every hall; tickets of checked-in bookings come from the ticket store."""

    def __init__(self, redis: Redis, tickets: TicketStore, clock: Clock, secret: bytes) -> None:
        self.redis = redis
        self.tickets = tickets
        self.clock = clock
        self.secret = secret
        self._claim = redis.register_script((SCRIPTS / "claim.lua").read_text())

    def hall(self, hall_id: str) -> tuple[HallConfig, HallCalendar, AppointmentSettings]:
        return hall_parts(self.tickets.hall(hall_id))

    # ---- reading slots -----------------------------------------------------------

    async def slots(self, hall_id: str, matter: str, day: date) -> list[dict[str, Any]]:
        """A day's slots of a matter: capacity, booked, free; and whether bookable now."""
        cfg, _, _ = self.hall(hall_id)
        if cfg.matter(matter) is None:
            raise NotFound(f"hall '{hall_id}' has no matter '{matter}'", code="unknown_matter")
        counts = await self.redis.hgetall(AppointmentKeys(hall_id).slots(_day_str(day), matter))
        return self._slot_rows(hall_id, matter, day, counts)

    async def all_slots(self, hall_id: str, day: date) -> dict[str, list[dict[str, Any]]]:
        """``slots`` of every matter of the hall for a day, in one round trip."""
        cfg, _, _ = self.hall(hall_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            for m in cfg.matters:
                pipe.hgetall(AppointmentKeys(hall_id).slots(_day_str(day), m.code))
            counts = await pipe.execute()
        return {m.code: self._slot_rows(hall_id, m.code, day, c)
                for m, c in zip(cfg.matters, counts, strict=True)}

    def _slot_rows(self, hall_id: str, matter: str, day: date, counts: dict[Any, Any]
                   ) -> list[dict[str, Any]]:
        cfg, cal, s = self.hall(hall_id)
        grid = day_slots(cal, day, s.slot_minutes)
        held = {as_str(k): int(v) for k, v in counts.items()}
        now = self.clock()
        released = now >= br.release_at(cal, day, s)
        out = []
        for t in grid:
            capacity = slot_capacity(cfg, matter, s.slot_minutes, s.walk_in_share, t.index)
            out.append({
                "slot": t.label, "start": t.start, "end": t.end,
                "time": f"{cal.local(t.start):%H:%M}", "capacity": capacity,
                "booked": held.get(t.label, 0),
                "free": max(0, capacity - held.get(t.label, 0)),
                "open": s.enabled and released and now <= t.start - s.cutoff_minutes * 60.0})
        return out

    # ---- booking -----------------------------------------------------------------

    def identity_of(self, name: str, phone: str | None, id_number: str | None
                    ) -> tuple[str, str, str, str]:
        """(name, phone, masked ID, identity key) from what the citizen typed."""
        name = " ".join(name.split())
        if not name:
            raise Invalid("please give your name", code="invalid_field")
        if not phone and not id_number:
            raise Invalid("give a mobile number or an ID card number", code="identity_required")
        norm_phone = identity.normalise_phone(phone) if phone else ""
        if id_number:
            number = identity.normalise_id(id_number)
            return name, norm_phone, identity.mask_id(number), identity.identity_key(
                self.secret, "id", number)
        return name, norm_phone, "", identity.identity_key(self.secret, "phone", norm_phone)

    async def book(self, hall_id: str, matter: str, day: date, slot: str, *, name: str,
                   phone: str | None = None, id_number: str | None = None,
                   lang: str = "zh") -> Booking:
        cfg, cal, s = self.hall(hall_id)
        if cfg.matter(matter) is None:
            raise NotFound(f"hall '{hall_id}' has no matter '{matter}'", code="unknown_matter")
        who = self.identity_of(name, phone, id_number)
        target = self._slot(cal, s, day, slot)
        now = self.clock()
        br.require_bookable(cal, day, target.start, now, s)
        await self._require_not_blocked(hall_id, who[3], cal, s)
        booking = Booking(
            id=secrets.token_urlsafe(16), code="", hall=hall_id, matter=matter,
            day=_day_str(day), slot=target.label, slot_start=target.start,
            slot_end=target.end, name=who[0], phone=who[1], id_masked=who[2],
            identity=who[3], created_at=now, lang=lang)
        return await self._claim_slot(cfg, cal, s, booking, None, target)

    async def change(self, hall_id: str, booking_id: str, day: date, slot: str) -> Booking:
        """Move a booking to another slot of the same matter, until the old one's cut-off."""
        cfg, cal, s = self.hall(hall_id)
        old, ver = await self._read(hall_id, booking_id)
        _require_status(old, "booked")
        now = self.clock()
        br.require_before_cutoff(old.slot_start, now, s)
        target = self._slot(cal, s, day, slot)
        br.require_bookable(cal, day, target.start, now, s)
        moved = dataclasses.replace(old, id=secrets.token_urlsafe(16), code="",
                                    day=_day_str(day), slot=target.label,
                                    slot_start=target.start, slot_end=target.end,
                                    created_at=now)
        return await self._claim_slot(cfg, cal, s, moved, (old, ver), target)

    def _slot(self, cal: HallCalendar, s: AppointmentSettings, day: date, label: str
              ) -> SlotTime:
        target = find_slot(cal, day, s.slot_minutes, label)
        if target is None:
            raise NotFound(f"no slot {label} on {day.isoformat()}", code="unknown_slot")
        return target

    async def _require_not_blocked(self, hall_id: str, key: str, cal: HallCalendar,
                                   s: AppointmentSettings) -> None:
        raw: list[Any] = await self.redis.zrange(AppointmentKeys(hall_id).noshow(key), 0, -1,
                                                 withscores=True)
        br.require_not_blocked([float(entry[1]) for entry in raw], self.clock(), s, cal)

    async def _claim_slot(self, cfg: HallConfig, cal: HallCalendar, s: AppointmentSettings,
                          booking: Booking, old: tuple[Booking, str] | None,
                          target: SlotTime) -> Booking:
        keys = AppointmentKeys(cfg.id)
        capacity = slot_capacity(cfg, booking.matter, s.slot_minutes, s.walk_in_share,
                                 target.index)
        week_start, week_end = br.week_bounds(cal, parse_day(booking.day))
        event = EventType.APPOINTMENT_CHANGED if old else EventType.APPOINTMENT_BOOKED
        # before the booking, so a hall with a booking is always among the sweep's
        await self.redis.zadd(BOOKED_HALLS, {cfg.id: booking.slot_start}, gt=True)
        for _ in range(5):  # a new code when the random one is taken
            booking = dataclasses.replace(booking, code=_new_code())
            key_list = [HallKeys(cfg.id).events, keys.slots(booking.day, booking.matter),
                        keys.booking(booking.id), keys.code(booking.code), keys.day(booking.day),
                        keys.open(booking.identity), keys.booked(booking.identity)]
            old_args = ["", "", "", ""]
            if old is not None:
                prev, ver = old
                key_list += [keys.booking(prev.id), keys.slots(prev.day, prev.matter),
                             keys.day(prev.day)]
                old_args = [prev.id, ver, prev.slot,
                            dumps(dataclasses.replace(prev, status="changed").to_dict())]
            data = {"booking": booking.event_dict()}
            if old is not None:
                data["from"] = old[0].event_dict()
            try:
                await self.tickets.write_policy.run(
                    self.redis, self._claim, keys=key_list,
                    args=[booking.slot, capacity, booking.matter, booking.id,
                          dumps(booking.to_dict()), repr(booking.slot_start), repr(week_start),
                          repr(week_end), s.max_per_week, s.max_open_per_matter, event.value,
                          repr(self.clock()), dumps(data), STREAM_MAXLEN, TTL, *old_args])
            except ResponseError as exc:
                reason = str(exc).split(" ")[0]
                if reason == "CODE_TAKEN":
                    continue
                raise _refusal(reason, s) from None
            self.tickets.committer.notify(cfg.id, event, data)
            return booking
        raise IllegalTransition("please try again", code="busy")

    # ---- reading and cancelling --------------------------------------------------

    async def _read(self, hall_id: str, booking_id: str) -> tuple[Booking, str]:
        self.tickets.hall(hall_id)
        ver, raw = await self.redis.hmget(AppointmentKeys(hall_id).booking(booking_id),
                                          ["ver", "json"])
        if raw is None:
            raise NotFound("no such booking", code="unknown_booking")
        return Booking.from_dict(json.loads(raw)), as_str(ver)

    async def get(self, hall_id: str, booking_id: str) -> Booking:
        return (await self._read(hall_id, booking_id))[0]

    async def by_code(self, hall_id: str, code: str) -> Booking:
        self.tickets.hall(hall_id)
        booking_id = await self.redis.get(AppointmentKeys(hall_id).code(_clean_code(code)))
        if booking_id is None:
            raise NotFound("no booking with this code", code="unknown_booking")
        return await self.get(hall_id, as_str(booking_id))

    async def cancel(self, hall_id: str, booking_id: str) -> Booking:
        _, _, s = self.hall(hall_id)

        async def attempt() -> Booking:
            booking, ver = await self._read(hall_id, booking_id)
            _require_status(booking, "booked")
            br.require_before_cutoff(booking.slot_start, self.clock(), s)
            done = dataclasses.replace(booking, status="cancelled")
            txn = self._release(done, ver)
            await self.tickets.committer.commit(txn, EventType.APPOINTMENT_CANCELLED,
                                                {"booking": done.event_dict()})
            return done

        return await retrying(attempt)

    def _release(self, booking: Booking, ver: str) -> Txn:
        """A Txn writing ``booking`` (no longer open) and freeing its slot and its limits."""
        keys = AppointmentKeys(booking.hall)
        txn = Txn(HallKeys(booking.hall))
        txn.put_versioned(keys.booking(booking.id), ver, "status", booking.status,
                          "json", dumps(booking.to_dict()))
        txn.op("HINCRBY", keys.open(booking.identity), booking.matter, -1)
        if booking.status == "cancelled":
            txn.op("HINCRBY", keys.slots(booking.day, booking.matter), booking.slot, -1)
            txn.op("ZREM", keys.booked(booking.identity), booking.id)
            txn.op("ZREM", keys.day(booking.day), booking.id)
        return txn

    # ---- check-in at the kiosk ---------------------------------------------------

    async def find_for_checkin(self, hall_id: str, code: str | None,
                               id_number: str | None) -> Booking:
        """Today's open booking by code or by ID number (the one nearest now)."""
        if code:
            booking = await self.by_code(hall_id, code)
            return booking
        if not id_number:
            raise Invalid("give the booking code or the ID card number", code="invalid_field")
        _, cal, _ = self.hall(hall_id)
        key = identity.identity_key(self.secret, "id", identity.normalise_id(id_number))
        today = cal.local(self.clock()).date()
        start = cal.at(today, time(0, 0))
        end = cal.at(today + timedelta(days=1), time(0, 0))
        ids = await self.redis.zrangebyscore(AppointmentKeys(hall_id).booked(key), start,
                                             f"({end}")
        found = [await self.get(hall_id, as_str(i)) for i in ids]
        open_ = [b for b in found if b.status == "booked"]
        if not open_:
            raise NotFound("no booking today for this ID card number", code="unknown_booking")
        now = self.clock()
        return min(open_, key=lambda b: abs(b.slot_start - now))

    async def check_in(self, hall_id: str, booking: Booking
                       ) -> tuple[Booking, Ticket, Position, CheckIn]:
        """Turn a booking into a ticket: on time → an appointment ticket waiting under its
        slot time; late → a walk-in ticket (the booking is marked late)."""
        _, cal, s = self.hall(hall_id)
        today = local_day(self.clock(), cal.tz)
        if booking.hall != hall_id or booking.day != today:
            raise IllegalTransition(
                f"this booking is for {booking.day[:4]}-{booking.day[4:6]}-{booking.day[6:]}",
                code="checkin_wrong_day")
        _require_status(booking, "booked")
        verdict = br.checkin_verdict(booking.slot_start, self.clock(), s)
        if verdict is CheckIn.EARLY:
            opens = booking.slot_start - s.checkin_before_minutes * 60.0
            raise IllegalTransition(f"check-in opens at {cal.local(opens):%H:%M}",
                                    code="checkin_too_early")
        if verdict is CheckIn.LATE:
            # a walk-in ticket first (refused outside walk-in hours), then mark the booking
            ticket, position = await self.tickets.issue(hall_id, booking.matter, Channel.KIOSK)
            status, event = "late", EventType.APPOINTMENT_LATE
        else:
            ticket, position = await self.tickets.issue(
                hall_id, booking.matter, Channel.APPOINTMENT, appointment=True,
                slot_start=br.checkin_order_key(booking.slot_start))
            status, event = "checked_in", EventType.APPOINTMENT_CHECKED_IN

        async def attempt() -> Booking:
            current, ver = await self._read(hall_id, booking.id)
            _require_status(current, "booked")
            done = dataclasses.replace(current, status=status, ticket_id=ticket.id,
                                       checked_in_at=self.clock())
            txn = self._release(done, ver)
            txn.op("SET", AppointmentKeys(hall_id).ticket(ticket.id), done.id)
            txn.op("EXPIRE", AppointmentKeys(hall_id).ticket(ticket.id), 2 * 86400)
            await self.tickets.committer.commit(
                txn, event, {"booking": done.event_dict(), "number": ticket.number})
            return done

        try:
            done = await retrying(attempt)
        except IllegalTransition:
            # checked in twice at once: the other one won; this ticket is withdrawn
            await self.tickets.cancel(hall_id, ticket.id, "check-in")
            raise
        return done, ticket, position, verdict

    # ---- no-shows ----------------------------------------------------------------

    async def sweep_no_shows(self, hall_id: str) -> int:
        """Mark today's and earlier bookings past their check-in window as no-shows."""
        _, cal, s = self.hall(hall_id)
        now = self.clock()
        keys = AppointmentKeys(hall_id)
        marked = 0
        for back in range(0, 3):
            day = _day_str(cal.local(now).date() - timedelta(days=back))
            ids = await self.redis.zrangebyscore(
                keys.day(day), "-inf", now - s.checkin_after_minutes * 60.0)
            for raw_id in ids:
                marked += await self._mark_no_show(hall_id, as_str(raw_id), s)
        return marked

    async def _mark_no_show(self, hall_id: str, booking_id: str, s: AppointmentSettings) -> int:
        async def attempt() -> int:
            booking, ver = await self._read(hall_id, booking_id)
            if booking.status != "booked" or not br.no_show_due(
                    booking.slot_start, self.clock(), s):
                return 0
            done = dataclasses.replace(booking, status="no_show")
            txn = self._release(done, ver)
            txn.op("ZADD", AppointmentKeys(hall_id).noshow(booking.identity),
                   booking.slot_start, booking.id)
            txn.op("EXPIRE", AppointmentKeys(hall_id).noshow(booking.identity), TTL)
            await self.tickets.committer.commit(txn, EventType.APPOINTMENT_NO_SHOW,
                                                {"booking": done.event_dict()})
            return 1

        return await retrying(attempt)

    async def day_bookings(self, hall_id: str, day: str) -> list[Booking]:
        ids = await self.redis.zrange(AppointmentKeys(hall_id).day(day), 0, -1)
        out = []
        for raw_id in ids:
            try:
                out.append(await self.get(hall_id, as_str(raw_id)))
            except NotFound:
                continue
        return out

    def challenge_key(self, hall_id: str, challenge: str) -> str:
        """Set (NX, 15 minutes) when a verified challenge is used: each is used once."""
        return AppointmentKeys(hall_id).pow_used(challenge.rsplit(".", 1)[-1])


def _require_status(booking: Booking, status: str) -> None:
    if booking.status != status:
        raise IllegalTransition(f"this booking is {booking.status.replace('_', ' ')}",
                                code="booking_not_open")


def _new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))


def _clean_code(code: str) -> str:
    return "".join(c for c in code.upper() if c.isalnum())[:16]


def _refusal(reason: str, s: AppointmentSettings) -> Exception:
    if reason == "SLOT_FULL":
        return IllegalTransition("this slot is fully booked; please pick another",
                                 code="slot_full")
    if reason == "OPEN_LIMIT":
        return IllegalTransition(
            f"you already hold {s.max_open_per_matter} open booking(s) for this matter",
            code="booking_limit")
    if reason == "WEEK_LIMIT":
        return IllegalTransition(f"at most {s.max_per_week} bookings per week",
                                 code="booking_limit")
    if reason == "CONFLICT":
        return IllegalTransition("this booking changed meanwhile; please reload",
                                 code="booking_not_open")
    return RuntimeError(reason)



APPOINTMENTS: Key[AppointmentStore] = Key("ticketing.appointments")
