"""The typed hall: what a validated hall file becomes (frozen dataclasses, pure).

Every package reads halls through these types; ``hall.config.parse`` builds them from a
file's tables (``hall.config.schema``) after checking every field.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

DOMAINS: dict[str, tuple[str, str]] = {
    "social_insurance": ("社保", "Social insurance"),
    "medical_insurance": ("医保", "Medical insurance"),
    "tax": ("税务", "Tax"),
    "police": ("公安", "Police"),
    "real_estate": ("不动产", "Real estate"),
    "housing_fund": ("公积金", "Housing fund"),
}

SPECIALTIES: dict[str, tuple[str, str]] = {
    "complaint": ("办不成事反映", "Could not get it done"),
    "help_agent": ("导办帮办", "Guidance and help"),
    "proxy": ("委托代办", "Proxy service"),
    "appointment": ("预约服务", "Appointments"),
    "fast_track": ("快速通道", "Fast track"),
    "consultation": ("综合咨询", "Consultation"),
    "cross_region": ("跨域通办", "Cross-region service"),
    "one_thing": ("一件事一次办", "One thing, done once"),
    "pickup": ("综合出件", "Result pickup"),
}

PRIORITY_GROUPS: dict[str, tuple[str, str]] = {
    "elderly": ("老年人", "Elderly"),
    "disabled": ("残疾人", "Disabled"),
    "military": ("军人", "Military"),
    "pregnant": ("孕妇", "Pregnant women"),
    "responder": ("应急救援人员", "Emergency responders"),
}


class HallLevel(str, Enum):
    CITY = "city"
    COUNTY = "county"
    TOWN = "town"
    VILLAGE = "village"


class WindowKind(str, Enum):
    NO_DIFFERENCE = "no_difference"
    DOMAIN = "domain"
    SPECIALTY = "specialty"
    TIDE = "tide"


@dataclass(frozen=True)
class Matter:
    code: str
    name_zh: str
    name_en: str
    queue: str
    expected_minutes: float
    domain: str | None = None
    specialty: str | None = None
    life_event: str = ""
    department: str = ""
    documents_zh: tuple[str, ...] = ()  # 一次性告知: what to bring (zh / en)
    documents_en: tuple[str, ...] = ()
    notes_zh: str = ""
    notes_en: str = ""
    bookable: bool = True  # offered for appointments


@dataclass(frozen=True)
class Queue:
    letter: str
    name_zh: str
    name_en: str
    domain: str | None = None
    specialty: str | None = None


@dataclass(frozen=True)
class Window:
    number: int
    name_zh: str
    name_en: str
    kind: WindowKind
    queues: tuple[str, ...]
    specialties: tuple[str, ...] = ()
    lendable: bool = False


@dataclass(frozen=True)
class Staff:
    id: str
    name: str
    staff_number: str
    role: str = "clerk"
    windows: tuple[int, ...] = ()

    def rostered_for(self, window: int) -> bool:
        """Whether the roster lets this person staff ``window`` (no list: any window)."""
        return not self.windows or window in self.windows

    def may_staff(self, window: int) -> bool:
        """A clerk rostered for ``window``: who may be put at it (tide, simulator)."""
        return self.role == "clerk" and self.rostered_for(window)


@dataclass(frozen=True)
class Rules:
    """Hall-wide service rules; every bound the routing promises is derived from these."""

    rejoin_minutes: float = 30.0
    rejoin_places_back: int = 3
    max_rejoins: int = 1
    priority_head_start_minutes: float = 30.0
    queue_step_minutes: float = 10.0
    wait_target_minutes: float = 15.0
    max_ticket_per_day_per_queue: int = 999
    rating_period_minutes: float = 1440.0
    unrated_counts_as: str | None = None
    rectification_working_days: int = 5  # a bad rating's case must close within this
    record_retention_days: int = 180  # ticket records; daily aggregates are kept for good
    stream_retention_days: int = 3  # the event stream keeps this many days (the roll-up trims)
    kiosk_reset_seconds: float = 20.0  # a kiosk forgets the last citizen's ticket after this
    pad_rating_seconds: float = 90.0  # a window's pad offers a rating this long after finish


@dataclass(frozen=True)
class OpeningHours:
    weekdays: tuple[int, ...] = (1, 2, 3, 4, 5)
    periods: tuple[tuple[str, str], ...] = (("09:00", "12:00"), ("13:30", "17:30"))
    # per-weekday periods ({"3": ["09:00-19:00"]}), read by hall.calendar
    by_weekday: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HallConfig:
    id: str
    name_zh: str
    name_en: str
    level: HallLevel
    timezone: str
    hours: OpeningHours
    rules: Rules
    matters: tuple[Matter, ...]
    queues: tuple[Queue, ...]
    windows: tuple[Window, ...]
    integrated_domains: tuple[str, ...]
    priority_groups: tuple[str, ...]
    staff: tuple[Staff, ...]
    notices: tuple[str, ...] = ()
    notices_en: tuple[str, ...] = ()  # the same notices in English, in the same order
    # tables other parts read and check themselves ([voice], [tide], [appointments],
    # [hall.calendar]); kept as written
    voice: Mapping[str, Any] = field(default_factory=dict)
    tide: Mapping[str, Any] = field(default_factory=dict)
    appointments: Mapping[str, Any] = field(default_factory=dict)
    calendar: Mapping[str, Any] = field(default_factory=dict)
    # a hall generated from a province file (hall.config.province): its city and template
    region: str = ""
    template: str = ""

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def matter(self, code: str) -> Matter | None:
        return next((m for m in self.matters if m.code == code), None)

    def queue(self, letter: str) -> Queue | None:
        return self._queues.get(letter)

    @functools.cached_property
    def _queues(self) -> dict[str, Queue]:
        # computed once: the tide policy names a queue on every run
        out: dict[str, Queue] = {}
        for q in self.queues:
            out.setdefault(q.letter, q)
        return out

    def window(self, number: int) -> Window | None:
        return next((w for w in self.windows if w.number == number), None)

    def staff_member(self, staff_id: str) -> Staff | None:
        return next((s for s in self.staff if s.id == staff_id), None)

    def window_queues(self, number: int) -> tuple[str, ...]:
        """Queues a window serves, in order: its own, then integrated domains' for no-difference."""
        return self._window_queues.get(number, ())

    @functools.cached_property
    def _window_queues(self) -> dict[int, tuple[str, ...]]:
        # computed once: the tide measure and the simulator ask this on every step
        out: dict[int, tuple[str, ...]] = {}
        for window in self.windows:
            served = list(window.queues)
            if window.kind in (WindowKind.NO_DIFFERENCE, WindowKind.TIDE):
                for q in self.queues:
                    if q.domain in self.integrated_domains and q.letter not in served:
                        served.append(q.letter)
            out[window.number] = tuple(served)
        return out

    @functools.cached_property
    def tide_windows(self) -> tuple[Window, ...]:
        """The tide windows (潮汐窗口), in the file's order (computed once: the tide
        policy walks them on every run)."""
        return tuple(w for w in self.windows if w.kind is WindowKind.TIDE)

    @functools.cached_property
    def lendable_windows(self) -> tuple[Window, ...]:
        """The windows the tide policy may lend to another queue, in the file's order."""
        return tuple(w for w in self.windows if w.lendable)

    @functools.cached_property
    def tide_managed_windows(self) -> tuple[Window, ...]:
        """The windows the tide controller may change (its tide windows and the lendable
        ones), in the file's order."""
        return tuple(w for w in self.windows if w.kind is WindowKind.TIDE or w.lendable)

    def windows_serving(self, letter: str) -> tuple[int, ...]:
        return self._serving.get(letter, ())

    @functools.cached_property
    def _serving(self) -> dict[str, tuple[int, ...]]:
        # computed once: issuing a ticket asks this on every request
        out: dict[str, list[int]] = {}
        for w in self.windows:
            for letter in self.window_queues(w.number):
                out.setdefault(letter, []).append(w.number)
        return {letter: tuple(numbers) for letter, numbers in out.items()}
