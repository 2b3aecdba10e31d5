"""The tables of a hall file as pydantic models: types, ranges, and no unknown field.

Checks that need one field only live here (a letter is one capital, a time zone exists);
checks across tables (a window serves a known queue) are in ``hall.config.parse``.
Defaults come from the typed hall (``hall.config.types``), so they are written once.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt
from pydantic import StrictFloat as Number

from hall.config.types import DOMAINS, PRIORITY_GROUPS, SPECIALTIES, OpeningHours, Rules
from hall.text import hall_id_chars, parse_hhmm


def _text(value: str) -> str:
    if not value.strip():
        raise ValueError("required text is missing")
    return value.strip()


def _hall_id(value: str) -> str:
    if not hall_id_chars(value):
        raise ValueError("may hold only letters, digits, '-' and '_'")
    return value


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone '{value}'") from None
    return value


def _letter(value: str) -> str:
    if not (len(value) == 1 and value.isascii() and value.isupper()):
        raise ValueError(f"must be one capital letter A-Z, got '{value}'")
    return value


def _domain(value: str) -> str:
    if value not in DOMAINS:
        raise ValueError(f"unknown domain '{value}' (known: {', '.join(DOMAINS)})")
    return value


def _specialty(value: str) -> str:
    if value not in SPECIALTIES:
        raise ValueError(f"unknown specialty '{value}' (known: {', '.join(SPECIALTIES)})")
    return value


def _domains(values: list[str]) -> list[str]:
    for value in values:
        if value not in DOMAINS:
            raise ValueError(f"unknown domain '{value}' (known: {', '.join(DOMAINS)})")
    return values


def _groups(values: list[str]) -> list[str]:
    for value in values:
        if value not in PRIORITY_GROUPS:
            raise ValueError(f"unknown priority group '{value}' "
                             f"(known: {', '.join(PRIORITY_GROUPS)})")
    return values


def _specialties(values: list[str]) -> list[str]:
    for value in values:
        _specialty(value)
    return values


def _served(values: list[str]) -> list[str]:
    if not values:
        raise ValueError("a window must serve at least one queue")
    if len(set(values)) != len(values):
        raise ValueError("lists a queue twice")
    return values


def _weekdays(values: list[int]) -> list[int]:
    if not all(1 <= d <= 7 for d in values):
        raise ValueError("must list ISO weekdays 1 (Monday) to 7 (Sunday)")
    return values


def _period(value: str) -> str:
    parts = value.split("-")
    try:
        start, end = (parse_hhmm(p) for p in parts) if len(parts) == 2 else (None, None)
    except ValueError:
        start = end = None
    if start is None or end is None or start >= end:
        raise ValueError(f"must look like '09:00-12:00', got {value!r}")
    return value


Text = Annotated[str, AfterValidator(_text)]
Whole = StrictInt
Period = Annotated[str, AfterValidator(_period)]
Domain = Annotated[str, AfterValidator(_domain)]
Specialty = Annotated[str, AfterValidator(_specialty)]
Domains = Annotated[list[str], AfterValidator(_domains)]
Groups = Annotated[list[str], AfterValidator(_groups)]


class Table(BaseModel):
    """A table of a hall file: unknown fields are mistakes, named with the known ones."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class HoursTable(Table):
    weekdays: Annotated[list[Whole], AfterValidator(_weekdays)] = list(OpeningHours().weekdays)
    periods: list[Period] = ["-".join(p) for p in OpeningHours().periods]
    by_weekday: dict[str, Any] = {}  # per weekday; read and checked by hall.calendar


class HallTable(Table):
    id: Annotated[Text, AfterValidator(_hall_id)]
    name_zh: Text
    name_en: Text
    level: Literal["city", "county", "town", "village"]
    timezone: Annotated[Text, AfterValidator(_zone)] = "Asia/Shanghai"
    notices: list[str] = []
    notices_en: list[str] = []  # the same notices in English, in the same order
    hours: HoursTable = HoursTable()
    calendar: dict[str, Any] = {}  # closures and extra openings; checked by hall.calendar
    # TOML puts a key written after [hall] into that table, an easy slip: accepted here too
    integrated_domains: Domains | None = None
    priority_groups: Groups | None = None


_R = Rules()


class RulesTable(Table):
    rejoin_minutes: Number = Field(_R.rejoin_minutes, ge=0)
    rejoin_places_back: Whole = Field(_R.rejoin_places_back, ge=0)
    max_rejoins: Whole = Field(_R.max_rejoins, ge=0)
    priority_head_start_minutes: Number = Field(_R.priority_head_start_minutes, ge=0)
    queue_step_minutes: Number = Field(_R.queue_step_minutes, ge=0)
    wait_target_minutes: Number = Field(_R.wait_target_minutes, ge=1)
    max_ticket_per_day_per_queue: Whole = Field(_R.max_ticket_per_day_per_queue, ge=1)
    rating_period_minutes: Number = Field(_R.rating_period_minutes, ge=1)
    unrated_counts_as: Literal["basically_satisfied"] | None = None
    rectification_working_days: Whole = Field(_R.rectification_working_days, ge=1)
    record_retention_days: Whole = Field(_R.record_retention_days, ge=1)
    stream_retention_days: Whole = Field(_R.stream_retention_days, ge=1)
    kiosk_reset_seconds: Number = Field(_R.kiosk_reset_seconds, ge=5)
    pad_rating_seconds: Number = Field(_R.pad_rating_seconds, ge=10)

    def rules(self) -> Rules:
        return Rules(**self.model_dump())


class QueueTable(Table):
    letter: Annotated[Text, AfterValidator(_letter)]
    name_zh: Text
    name_en: Text
    domain: Domain | None = None
    specialty: Specialty | None = None


class MatterTable(Table):
    code: Text
    name_zh: Text
    name_en: Text
    queue: Text
    expected_minutes: Number = Field(10.0, ge=0.5)
    domain: Domain | None = None
    specialty: Specialty | None = None
    life_event: str = ""
    department: str = ""
    documents_zh: list[Text] = []  # 一次性告知: what to bring, shown when booking and at the kiosk
    documents_en: list[Text] = []
    notes_zh: str = ""
    notes_en: str = ""
    bookable: bool = True  # offered for appointments


class WindowTable(Table):
    number: Whole = Field(ge=1)
    name_zh: Text
    name_en: Text
    kind: Literal["no_difference", "domain", "specialty", "tide"]
    queues: Annotated[list[str], AfterValidator(_served)]
    specialties: Annotated[list[str], AfterValidator(_specialties)] = []
    lendable: StrictBool = False


class StaffTable(Table):
    id: Text
    name: Text
    staff_number: Text
    role: Literal["clerk", "manager"] = "clerk"
    windows: list[Whole] = []


class FileTables(Table):
    """The top level of a hall file: which tables it may have (each checked on its own)."""

    hall: dict[str, Any]
    rules: dict[str, Any] = {}
    queues: list[dict[str, Any]] = []
    matters: list[dict[str, Any]] = []
    windows: list[dict[str, Any]] = []
    staff: list[dict[str, Any]] = []
    integrated_domains: Domains = []
    priority_groups: Groups = []
    # read and checked by their own packages (tide.settings, voice.settings, …)
    voice: dict[str, Any] = {}
    tide: dict[str, Any] = {}
    appointments: dict[str, Any] = {}
