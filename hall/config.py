"""Hall definition files: parse a TOML hall into typed config, and explain every mistake by field.

A hall file has the tables ``[hall]``, ``[rules]``, ``[[matters]]``, ``[[queues]]``,
``[[windows]]``, ``[[staff]]`` and optional ``[voice]`` / ``[tide]`` tables that
their own packages read. See ``hall/halls/district.toml`` for a complete example.
"""

from __future__ import annotations

import dataclasses
import functools
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hall.settings import Settings

BUNDLED_HALLS_DIR = Path(__file__).parent / "halls"

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


class ConfigError(Exception):
    """A hall file with mistakes; ``problems`` lists each as 'field: explanation'."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


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
    kiosk_reset_seconds: float = 20.0  # a kiosk forgets the last citizen's ticket after this
    pad_rating_seconds: float = 90.0  # a window's pad offers a rating this long after finish


@dataclass(frozen=True)
class OpeningHours:
    weekdays: tuple[int, ...] = (1, 2, 3, 4, 5)
    periods: tuple[tuple[str, str], ...] = (("09:00", "12:00"), ("13:30", "17:30"))


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
    voice: Mapping[str, Any] = field(default_factory=dict)
    tide: Mapping[str, Any] = field(default_factory=dict)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def matter(self, code: str) -> Matter | None:
        return next((m for m in self.matters if m.code == code), None)

    def queue(self, letter: str) -> Queue | None:
        return next((q for q in self.queues if q.letter == letter), None)

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


def load_hall(path: str | Path) -> HallConfig:
    """Read and validate a hall file; raise ConfigError listing every problem."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(str(path), ["file: not found"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), [f"file: not valid TOML ({exc})"]) from None
    return parse_hall(raw, source=str(path))


def load_halls(paths: list[Path]) -> dict[str, HallConfig]:
    """Load many hall files (a file or a folder of *.toml each); hall ids must be unique."""
    files: list[Path] = []
    for p in paths:
        files.extend(sorted(p.glob("*.toml")) if p.is_dir() else [p])
    halls: dict[str, HallConfig] = {}
    for f in files:
        cfg = load_hall(f)
        if cfg.id in halls:
            raise ConfigError(str(f), [f"hall.id: '{cfg.id}' is already defined by another file"])
        halls[cfg.id] = cfg
    return halls


def bundled_hall_files() -> list[Path]:
    return sorted(BUNDLED_HALLS_DIR.glob("*.toml"))


def load_configured_halls(settings: Settings) -> dict[str, HallConfig]:
    """The halls of ``HALL_FILES`` (files or folders), or the bundled ones when unset."""
    files = list(settings.hall_files) or bundled_hall_files()
    return load_halls([Path(f) for f in files])


class _Reader:
    """Collects problems while reading a raw TOML mapping, so one pass reports them all."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def err(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def text(
        self, data: Mapping[str, Any], key: str, where: str, default: str | None = None
    ) -> str:
        value = data.get(key, default)
        if not isinstance(value, str) or not value.strip():
            missing = "required text is missing" if value is None else "must be text"
            self.err(f"{where}.{key}", missing)
            return ""
        return value.strip()

    def number(
        self, data: Mapping[str, Any], key: str, where: str, default: float, minimum: float = 0
    ) -> float:
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.err(f"{where}.{key}", f"must be a number, got {value!r}")
            return default
        if value < minimum:
            self.err(f"{where}.{key}", f"must be at least {minimum}, got {value}")
            return default
        return float(value)

    def strings(self, data: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.err(f"{where}.{key}" if where else key, "must be a list of text")
            return ()
        return tuple(value)

    def table_list(self, raw: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
        value = raw.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.err(key, f"must be an array of tables ([[{key}]])")
            return []
        return value


def _domain_or_specialty(
    r: _Reader, data: Mapping[str, Any], where: str
) -> tuple[str | None, str | None]:
    domain = data.get("domain")
    specialty = data.get("specialty")
    if not isinstance(domain, str | None) or not isinstance(specialty, str | None):
        r.err(where, "domain and specialty must be text")
        return None, None
    if domain is not None and domain not in DOMAINS:
        r.err(f"{where}.domain", f"unknown domain '{domain}' (known: {', '.join(DOMAINS)})")
        domain = None
    if specialty is not None and specialty not in SPECIALTIES:
        r.err(
            f"{where}.specialty",
            f"unknown specialty '{specialty}' (known: {', '.join(SPECIALTIES)})",
        )
        specialty = None
    if domain is not None and specialty is not None:
        r.err(where, "a queue or matter has a domain or a specialty, not both")
    return domain, specialty


def _parse_hours(r: _Reader, raw: Mapping[str, Any]) -> OpeningHours:
    hours = raw.get("hours", {})
    if not isinstance(hours, dict):
        r.err("hall.hours", "must be a table")
        return OpeningHours()
    weekdays = hours.get("weekdays", [1, 2, 3, 4, 5])
    if not isinstance(weekdays, list) or not all(
        isinstance(d, int) and 1 <= d <= 7 for d in weekdays
    ):
        r.err("hall.hours.weekdays", "must list ISO weekdays 1 (Monday) to 7 (Sunday)")
        weekdays = [1, 2, 3, 4, 5]
    periods: list[tuple[str, str]] = []
    raw_periods = hours.get("periods", ["09:00-12:00", "13:30-17:30"])
    if not isinstance(raw_periods, list):
        r.err("hall.hours.periods", "must be a list like ['09:00-12:00', '13:30-17:30']")
        raw_periods = []
    for i, period in enumerate(raw_periods):
        parts = period.split("-") if isinstance(period, str) else []
        if len(parts) != 2 or not all(_is_hhmm(p) for p in parts) or parts[0] >= parts[1]:
            r.err(f"hall.hours.periods[{i}]", f"must look like '09:00-12:00', got {period!r}")
            continue
        periods.append((parts[0], parts[1]))
    return OpeningHours(tuple(weekdays), tuple(periods))


def _is_hhmm(value: str) -> bool:
    hh, _, mm = value.partition(":")
    return (
        len(hh) == 2 and len(mm) == 2 and hh.isdigit() and mm.isdigit()
        and int(hh) < 24 and int(mm) < 60
    )


def _parse_rules(r: _Reader, raw: Mapping[str, Any]) -> Rules:
    data = raw.get("rules", {})
    if not isinstance(data, dict):
        r.err("rules", "must be a table")
        return Rules()
    d = Rules()
    unrated = data.get("unrated_counts_as")
    if unrated not in (None, "basically_satisfied"):
        r.err("rules.unrated_counts_as", "may only be 'basically_satisfied' (or left out)")
        unrated = None
    return Rules(
        rejoin_minutes=r.number(data, "rejoin_minutes", "rules", d.rejoin_minutes),
        rejoin_places_back=int(
            r.number(data, "rejoin_places_back", "rules", d.rejoin_places_back)
        ),
        max_rejoins=int(r.number(data, "max_rejoins", "rules", d.max_rejoins)),
        priority_head_start_minutes=r.number(
            data, "priority_head_start_minutes", "rules", d.priority_head_start_minutes
        ),
        queue_step_minutes=r.number(data, "queue_step_minutes", "rules", d.queue_step_minutes),
        wait_target_minutes=r.number(
            data, "wait_target_minutes", "rules", d.wait_target_minutes, minimum=1
        ),
        max_ticket_per_day_per_queue=int(
            r.number(data, "max_ticket_per_day_per_queue", "rules", 999, minimum=1)
        ),
        rating_period_minutes=r.number(
            data, "rating_period_minutes", "rules", d.rating_period_minutes, minimum=1
        ),
        unrated_counts_as=unrated,
        rectification_working_days=int(r.number(
            data, "rectification_working_days", "rules", d.rectification_working_days, minimum=1)),
        record_retention_days=int(r.number(
            data, "record_retention_days", "rules", d.record_retention_days, minimum=1)),
        kiosk_reset_seconds=r.number(
            data, "kiosk_reset_seconds", "rules", d.kiosk_reset_seconds, minimum=5),
        pad_rating_seconds=r.number(
            data, "pad_rating_seconds", "rules", d.pad_rating_seconds, minimum=10),
    )


def parse_hall(raw: Mapping[str, Any], source: str = "<hall>") -> HallConfig:
    """Validate a raw hall mapping; raise ConfigError naming each wrong field."""
    r = _Reader()
    head = raw.get("hall")
    if not isinstance(head, dict):
        r.err("hall", "the [hall] table is missing")
        head = {}
    hall_id = r.text(head, "id", "hall")
    if hall_id and not all(c.isalnum() or c in "-_" for c in hall_id):
        r.err("hall.id", "may hold only letters, digits, '-' and '_'")
    level_raw = head.get("level")
    try:
        level = HallLevel(level_raw)
    except ValueError:
        r.err("hall.level", f"must be one of city, county, town, village; got {level_raw!r}")
        level = HallLevel.COUNTY
    timezone = r.text(head, "timezone", "hall", default="Asia/Shanghai")
    try:
        ZoneInfo(timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        r.err("hall.timezone", f"unknown time zone '{timezone}'")
        timezone = "UTC"

    queues: list[Queue] = []
    for i, q in enumerate(r.table_list(raw, "queues")):
        where = f"queues[{i}]"
        letter = r.text(q, "letter", where)
        if letter and not (len(letter) == 1 and letter.isascii() and letter.isupper()):
            r.err(f"{where}.letter", f"must be one capital letter A-Z, got '{letter}'")
        if letter and any(x.letter == letter for x in queues):
            r.err(f"{where}.letter", f"letter '{letter}' is already used by another queue")
        domain, specialty = _domain_or_specialty(r, q, where)
        queues.append(
            Queue(letter, r.text(q, "name_zh", where), r.text(q, "name_en", where),
                  domain, specialty)
        )
    letters = {q.letter for q in queues}
    if not queues:
        r.err("queues", "a hall needs at least one queue")

    matters: list[Matter] = []
    for i, m in enumerate(r.table_list(raw, "matters")):
        where = f"matters[{i}]"
        code = r.text(m, "code", where)
        if code and any(x.code == code for x in matters):
            r.err(f"{where}.code", f"code '{code}' is already used by another matter")
        queue = r.text(m, "queue", where)
        if queue and queue not in letters:
            r.err(f"{where}.queue", f"unknown queue '{queue}'")
        domain, specialty = _domain_or_specialty(r, m, where)
        matters.append(
            Matter(
                code=code, name_zh=r.text(m, "name_zh", where), name_en=r.text(m, "name_en", where),
                queue=queue,
                expected_minutes=r.number(m, "expected_minutes", where, 10.0, minimum=0.5),
                domain=domain, specialty=specialty,
                life_event=str(m.get("life_event", "")), department=str(m.get("department", "")),
            )
        )
    if not matters:
        r.err("matters", "a hall needs at least one matter")

    windows: list[Window] = []
    for i, w in enumerate(r.table_list(raw, "windows")):
        where = f"windows[{i}]"
        number = w.get("number")
        if not isinstance(number, int) or isinstance(number, bool) or number < 1:
            r.err(f"{where}.number", f"must be a whole number from 1, got {number!r}")
            number = 0
        elif any(x.number == number for x in windows):
            r.err(f"{where}.number", f"window number {number} is used twice")
        kind_raw = w.get("kind")
        try:
            kind = WindowKind(kind_raw)
        except ValueError:
            r.err(f"{where}.kind",
                  f"must be one of no_difference, domain, specialty, tide; got {kind_raw!r}")
            kind = WindowKind.NO_DIFFERENCE
        served = r.strings(w, "queues", where)
        if not served and "queues" in w:
            r.err(f"{where}.queues", "a window must serve at least one queue")
        for q_letter in served:
            if q_letter not in letters:
                r.err(f"{where}.queues", f"unknown queue '{q_letter}'")
        if len(set(served)) != len(served):
            r.err(f"{where}.queues", "lists a queue twice")
        specialties = r.strings(w, "specialties", where)
        for name in specialties:
            if name not in SPECIALTIES:
                r.err(f"{where}.specialties", f"unknown specialty '{name}'")
        windows.append(
            Window(number, r.text(w, "name_zh", where), r.text(w, "name_en", where), kind,
                   served, specialties, bool(w.get("lendable", False)))
        )
    if not windows:
        r.err("windows", "a hall needs at least one window")

    # These two may sit at the top of the file or inside [hall] (TOML puts a key written
    # after [hall] into that table, an easy slip); the problem names where it was found.
    top = {k: (head, "hall") if k in head else (raw, "") for k in TOP_LISTS}
    integrated = r.strings(top["integrated_domains"][0], "integrated_domains",
                           top["integrated_domains"][1])
    for d in integrated:
        if d not in DOMAINS:
            r.err("integrated_domains", f"unknown domain '{d}'")
    groups = r.strings(top["priority_groups"][0], "priority_groups",
                       top["priority_groups"][1]) or tuple(PRIORITY_GROUPS)
    for g in groups:
        if g not in PRIORITY_GROUPS:
            r.err("priority_groups", f"unknown priority group '{g}'")

    window_numbers = {w.number for w in windows}
    staff: list[Staff] = []
    for i, person in enumerate(r.table_list(raw, "staff")):
        where = f"staff[{i}]"
        sid = r.text(person, "id", where)
        if sid and any(x.id == sid for x in staff):
            r.err(f"{where}.id", f"staff id '{sid}' is used twice")
        role = person.get("role", "clerk")
        if role not in ("clerk", "manager"):
            r.err(f"{where}.role", f"must be clerk or manager, got {role!r}")
        wins = person.get("windows", [])
        if not isinstance(wins, list) or not all(
            isinstance(n, int) and not isinstance(n, bool) for n in wins
        ):
            r.err(f"{where}.windows", "must be a list of window numbers")
            wins = []
        for n in wins:
            if n not in window_numbers:
                r.err(f"{where}.windows", f"unknown window {n}")
        staff.append(
            Staff(sid, r.text(person, "name", where), r.text(person, "staff_number", where),
                  str(role), tuple(wins))
        )

    cfg = HallConfig(
        id=hall_id, name_zh=r.text(head, "name_zh", "hall"),
        name_en=r.text(head, "name_en", "hall"),
        level=level, timezone=timezone, hours=_parse_hours(r, head), rules=_parse_rules(r, raw),
        matters=tuple(matters), queues=tuple(queues), windows=tuple(windows),
        integrated_domains=integrated, priority_groups=groups, staff=tuple(staff),
        notices=r.strings(head, "notices", "hall"),
        notices_en=r.strings(head, "notices_en", "hall"),
        voice=raw.get("voice", {}) if isinstance(raw.get("voice", {}), dict) else {},
        tide=raw.get("tide", {}) if isinstance(raw.get("tide", {}), dict) else {},
    )
    # Cross-checks that need the whole hall.
    for i, queue_cfg in enumerate(cfg.queues):
        letter = queue_cfg.letter
        if letter and not cfg.windows_serving(letter):
            r.err(f"queues[{i}]", f"no window serves queue '{letter}'")
        if letter and not any(mt.queue == letter for mt in cfg.matters):
            r.err(f"queues[{i}]", f"queue '{letter}' has no matter")
    for i, matter_cfg in enumerate(cfg.matters):
        if matter_cfg.queue in letters and not cfg.windows_serving(matter_cfg.queue):
            r.err(f"matters[{i}]",
                  f"no window serves matter '{matter_cfg.code}' (queue '{matter_cfg.queue}')")
    clerks = sum(1 for s in cfg.staff if s.role == "clerk")
    if cfg.windows and clerks < len(cfg.windows) - sum(
        1 for w in cfg.windows if w.kind is WindowKind.TIDE
    ):
        r.err("staff", f"{clerks} clerks cannot staff {len(cfg.windows)} windows")
    _unknown_fields(r, raw)
    if r.problems:
        raise ConfigError(source, r.problems)
    return cfg


TOP_LISTS = ("integrated_domains", "priority_groups")
# The fields each table may hold; anything else is a typo or a misplaced key, reported by
# name. Packages that read their own tables ([voice], [tide], …) check those themselves.
KNOWN_FIELDS: dict[str, frozenset[str]] = {
    "hall": frozenset({"id", "name_zh", "name_en", "level", "timezone", "notices", "notices_en",
                       "hours", *TOP_LISTS}),
    "hall.hours": frozenset({"weekdays", "periods"}),
    "queues": frozenset({"letter", "name_zh", "name_en", "domain", "specialty"}),
    "matters": frozenset({"code", "name_zh", "name_en", "queue", "expected_minutes", "domain",
                          "specialty", "life_event", "department"}),
    "windows": frozenset({"number", "name_zh", "name_en", "kind", "queues", "specialties",
                          "lendable"}),
    "staff": frozenset({"id", "name", "staff_number", "role", "windows"}),
}


def _unknown_fields(r: _Reader, raw: Mapping[str, Any]) -> None:
    """Name every field the format does not know, so a typo is not silently ignored."""

    def check(data: Any, where: str, known: frozenset[str]) -> None:
        if isinstance(data, dict):
            for key in sorted(set(data) - known):
                r.err(f"{where}.{key}", f"unknown field (known: {', '.join(sorted(known))})")

    head = raw.get("hall")
    check(head, "hall", KNOWN_FIELDS["hall"])
    if isinstance(head, dict):
        check(head.get("hours"), "hall.hours", KNOWN_FIELDS["hall.hours"])
    check(raw.get("rules"), "rules", frozenset(f.name for f in dataclasses.fields(Rules)))
    for table in ("queues", "matters", "windows", "staff"):
        items = raw.get(table)
        for i, item in enumerate(items if isinstance(items, list) else []):
            check(item, f"{table}[{i}]", KNOWN_FIELDS[table])
    for table in ("voice", "tide"):
        if table in raw and not isinstance(raw[table], dict):
            r.err(table, "must be a table")
