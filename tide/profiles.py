"""Arrival profiles for simulated hall days: hourly rates per matter, surges, citizen behaviour.

The district peak day (``district_peak_day``), used by the benchmark: about 260 tickets
in the 6.5 opening hours (09:00-12:00, 13:30-17:30), a morning peak 09:30-11:00 at
about 1.6 × the day's mean rate and an afternoon peak 14:30-16:00 at 1.3 ×, with
综合受理 (A) and 社保 (B) carrying most of it; a surge of 社保 pension claims 10:00-10:30
(× 1.5). Service times lognormal around each matter's expected minutes (CV 0.5);
3 % no-shows; patience 20 min plus an exponential (mean 90 min in all); a tide clerk
needs 3 min to start.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from hall.config import HallConfig
from hall.text import hours_of


@dataclass(frozen=True)
class Surge:
    start_hour: float
    end_hour: float
    factor: float
    matters: tuple[str, ...] = ()  # empty: every matter


@dataclass(frozen=True)
class Shift:
    """A clerk at a window from ``start_hour`` to ``end_hour`` (local, fractional)."""

    window: int
    clerk: str
    start_hour: float
    end_hour: float
    serve_out: bool = True  # at the end, serve those already waiting (else: after the ticket)
    # the queues served, in call order, when not the window's own (a tide window serving a
    # domain queue first, a lendable window lent to one: ``ticketing.model.reassign``)
    queues: tuple[str, ...] | None = None


@dataclass(frozen=True)
class DayProfile:
    """What happens in a simulated day, apart from the hall and the policy.

    ``hourly`` holds per matter the arrival rates (per hour) of each ``slot_minutes`` slot
    of the day (24 values for 60-minute slots, 96 for 15-minute ones).
    """

    hourly: Mapping[str, tuple[float, ...]]  # matter -> arrival rate per slot (per hour)
    surges: tuple[Surge, ...] = ()
    slot_minutes: int = 60
    service_cv: float = 0.5  # lognormal; 1.0 with ``exponential`` for M/M/c checks
    # matter -> (mean minutes, CV); default: the matter's expected_minutes and service_cv
    service_by_matter: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    green_share: float = 0.0  # green-channel tickets (priority group "elderly")
    appointment_share: float = 0.0  # appointment tickets issued as they come (priority)
    # booked appointments: the citizen booked the hall's slot (``[appointments]``
    # slot_minutes) holding their time and checks in at slot start + N(mean, sd) minutes,
    # through the booking rules (early: waits for check-in to open; late: a walk-in)
    booked_share: float = 0.0
    checkin_offset_minutes: tuple[float, float] = (-10.0, 10.0)
    transfer_prob: float = 0.0  # served tickets sent on to another queue afterwards
    transfer_to: Mapping[str, str] = field(default_factory=dict)  # queue -> queue (else A)
    rejoin_prob: float = 0.0  # no-shows who come back and re-join
    rejoin_after_minutes: float = 10.0
    silent_leave_prob: float = 0.0  # of those who give up, who leave without telling
    # None: every non-tide window staffed through each opening period (lunch closed);
    # windows serve out the people already waiting at the end of a shift
    roster: tuple[Shift, ...] | None = None
    exponential_service: bool = False
    no_show_prob: float = 0.03
    no_show_wait_seconds: float = 60.0  # the clerk recalls, then marks the no-show
    walk_seconds: float = 30.0  # from the call to the window
    patience_minutes: float | None = 90.0  # mean; None: nobody leaves
    patience_floor_minutes: float = 20.0  # nobody leaves sooner; the rest is exponential
    startup_minutes: float = 3.0  # a standby clerk's walk to the tide window
    confirm_minutes: float = 2.0  # advise mode: a manager confirms a proposal after this
    use_opening_hours: bool = True  # arrivals only in the hall's opening periods
    steady_hours: float = 0.0  # >0: arrivals at hour-0 rates from 0 to this many hours
    warmup_hours: float = 0.0  # tickets that arrive earlier are not counted
    scale: float = 1.0

    def rate(self, matter: str, hour: float) -> float:
        rates = self.hourly.get(matter)
        if not rates:
            return 0.0
        r = rates[int(hour * 60 // self.slot_minutes) % len(rates)] * self.scale
        for s in self.surges:
            if s.start_hour <= hour < s.end_hour and (not s.matters or matter in s.matters):
                r *= s.factor
        return r


# Relative arrivals per hour of a peak day (a hall open 09:00-12:00, 13:30-17:30).
PEAK_SHAPE: tuple[float, ...] = (
    0, 0, 0, 0, 0, 0, 0, 0, 0,  # 00-08
    1.45, 1.6, 1.25,  # 09, 10, 11
    0, 0.6,  # 12 (lunch), 13 (from 13:30)
    1.0, 1.3, 0.95, 0.6,  # 14, 15, 16, 17 (to 17:30)
    0, 0, 0, 0, 0, 0,
)

DISTRICT_SHARES: dict[str, float] = {
    "A": 0.45, "B": 0.25, "C": 0.055, "D": 0.07, "E": 0.06, "F": 0.025, "G": 0.04,
    "H": 0.015, "J": 0.01, "K": 0.015, "L": 0.003, "M": 0.007,
}


def open_fraction(cfg: HallConfig, hour: int) -> float:
    """How much of the clock hour ``hour`` the hall is open."""
    total = 0.0
    for a, b in cfg.hours.periods:
        lo, hi = max(float(hour), hours_of(a)), min(hour + 1.0, hours_of(b))
        total += max(0.0, hi - lo)
    return total


def shaped_profile(cfg: HallConfig, tickets_per_day: float, shape: tuple[float, ...],
                   queue_shares: Mapping[str, float], **options: object) -> DayProfile:
    """Spread ``tickets_per_day`` over the hours by ``shape`` and over matters by queue share
    (split evenly among a queue's matters)."""
    open_hours = sum(s * open_fraction(cfg, h) for h, s in enumerate(shape))
    hourly: dict[str, tuple[float, ...]] = {}
    for m in cfg.matters:
        siblings = sum(1 for x in cfg.matters if x.queue == m.queue)
        share = queue_shares.get(m.queue, 0.0) / siblings
        hourly[m.code] = tuple(tickets_per_day * share * s / open_hours for s in shape)
    return DayProfile(hourly=hourly, **options)  # type: ignore[arg-type]


def district_peak_day(cfg: HallConfig, scale: float = 1.0) -> DayProfile:
    return shaped_profile(
        cfg, 260.0, PEAK_SHAPE, DISTRICT_SHARES,
        surges=(Surge(10.0, 10.5, 1.5, ("SB-YLJ", "SB-CB")),), scale=scale,
    )


def steady_profile(matter: str, per_hour: float, hours: float, warmup_hours: float,
                   patience_minutes: float | None = None) -> DayProfile:
    """Constant Poisson arrivals and exponential service, for checks against queueing theory."""
    return DayProfile(
        hourly={matter: (per_hour,) * 24}, service_cv=1.0, exponential_service=True,
        no_show_prob=0.0, walk_seconds=0.0, patience_minutes=patience_minutes,
        use_opening_hours=False, steady_hours=hours, warmup_hours=warmup_hours,
        startup_minutes=0.0, patience_floor_minutes=0.0,
    )


@dataclass(frozen=True)
class Arrival:
    at: float  # seconds after the day's midnight
    matter: str
    queue: str
    service_seconds: float
    patience_seconds: float
    no_show: bool
    counted: bool = True
    priority_group: str | None = None
    appointment: bool = False
    silent: bool = False  # leaves without telling when patience runs out
    rejoin_after: float | None = None  # a no-show who comes back after this many seconds
    transfer_to: str | None = None  # queue the ticket is sent on to after its service
    transfer_service: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)
    slot_start: float | None = None  # a booked appointment: its slot (s after midnight)
