"""Identity at the kiosk (optional per hall: ``[appointments] kiosk_identity``).

With an ID card number, a walk-in ticket counts against a limit per identity, day and
matter (``kiosk_tickets_per_day_per_matter``, against ticket scalping), and a citizen of
``green_channel_age`` or over gets the green channel (elderly) without being asked. The
number is only hashed (``hall.identity``) for the day's counter; the ticket keeps nothing.
``required`` refuses a ticket without it; ``off`` ignores it.
"""

from __future__ import annotations

from hall import identity
from hall.errors import IllegalTransition, Invalid
from ticketing.appointments import AppointmentKeys, AppointmentStore
from ticketing.booking_rules import KioskIdentity


class Admission:
    """What the identity changed: the green channel to give, and the counter to undo."""

    def __init__(self, priority_group: str | None, counter: str | None) -> None:
        self.priority_group = priority_group
        self.counter = counter


async def admit(store: AppointmentStore, hall_id: str, matter: str, id_number: str | None,
                priority_group: str | None) -> Admission:
    cfg, cal, s = store.hall(hall_id)
    if s.kiosk_identity is KioskIdentity.OFF:
        return Admission(priority_group, None)
    if not id_number:
        if s.kiosk_identity is KioskIdentity.REQUIRED:
            raise Invalid("this hall asks for an ID card number with each ticket",
                          code="identity_required")
        return Admission(priority_group, None)
    number = identity.normalise_id(id_number)
    key = identity.identity_key(store.secret, "id", number)
    today = cal.local(store.clock()).date()
    counter = f"{AppointmentKeys(hall_id).p}:kiosk:{today:%Y%m%d}:{key}:{matter}"
    async with store.redis.pipeline(transaction=True) as pipe:
        pipe.incr(counter)
        pipe.expire(counter, 2 * 86400)
        taken, _ = await pipe.execute()
    if int(taken) > s.kiosk_tickets_per_day_per_matter:
        await store.redis.decr(counter)
        raise IllegalTransition(
            f"at most {s.kiosk_tickets_per_day_per_matter} ticket(s) per person and matter "
            "a day", code="identity_limit")
    age = identity.age_on(number, today)
    if (priority_group is None and s.green_channel_age and age is not None
            and age >= s.green_channel_age and "elderly" in cfg.priority_groups):
        priority_group = "elderly"
    return Admission(priority_group, counter)


async def undo(store: AppointmentStore, admission: Admission) -> None:
    """Give the count back when the ticket was not issued after all."""
    if admission.counter is not None:
        await store.redis.decr(admission.counter)
