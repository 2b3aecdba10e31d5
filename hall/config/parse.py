"""A raw hall file (its TOML as a mapping) → the typed hall, or every mistake by field.

Each table is checked on its own (``hall.config.schema``), so one bad window does not
hide the next; the checks across tables (a window serves a known queue, every matter
has a window, enough clerks …) then run on the tables that were valid. All problems
come back together in one ``ConfigError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

from hall.config.checking import ConfigError, check
from hall.config.schema import (
    FileTables,
    HallTable,
    MatterTable,
    QueueTable,
    RulesTable,
    StaffTable,
    WindowTable,
)
from hall.config.types import (
    PRIORITY_GROUPS,
    HallConfig,
    HallLevel,
    Matter,
    OpeningHours,
    Queue,
    Rules,
    Staff,
    Window,
    WindowKind,
)

M = TypeVar("M", bound=BaseModel)


def _items(raw: Mapping[str, Any], name: str, model: type[M],
           problems: list[str]) -> list[tuple[int, M]]:
    """The valid items of a ``[[name]]`` list, each with its index in the file."""
    value = raw.get(name, [])
    if not isinstance(value, list):
        return []  # FileTables has said so
    out = []
    for i, item in enumerate(value):
        if isinstance(item, dict):
            found = check(model, item, (name, i), problems)
            if found is None:  # an unknown field is reported; the item still counts below
                found = check(model, {k: v for k, v in item.items() if k in model.model_fields},
                              (name, i), [])
            if found is not None:
                out.append((i, found))
    return out


def parse_hall(raw: Mapping[str, Any], source: str = "<hall>") -> HallConfig:
    """Validate a raw hall mapping; raise ConfigError naming each wrong field."""
    problems: list[str] = []
    top = check(FileTables, raw, (), problems)
    head_raw = raw.get("hall")
    head = check(HallTable, head_raw, ("hall",), problems) if isinstance(head_raw, dict) else None
    rules_raw = raw.get("rules", {})
    rules = check(RulesTable, rules_raw, ("rules",), problems) \
        if isinstance(rules_raw, dict) else None
    queues = _items(raw, "queues", QueueTable, problems)
    matters = _items(raw, "matters", MatterTable, problems)
    windows = _items(raw, "windows", WindowTable, problems)
    staff = _items(raw, "staff", StaffTable, problems)

    problems.extend(_duplicates(queues, "letter", "letter '{}' is already used by another queue"))
    problems.extend(_duplicates(matters, "code", "code '{}' is already used by another matter"))
    problems.extend(_duplicates(windows, "number", "window number {} is used twice"))
    problems.extend(_duplicates(staff, "id", "staff id '{}' is used twice"))
    for i, q in queues:
        if q.domain and q.specialty:
            problems.append(f"queues[{i}]: a queue or matter has a domain or a specialty, "
                            "not both")
    letters = {q.letter for _, q in queues}
    for i, m in matters:
        if m.queue not in letters:
            problems.append(f"matters[{i}].queue: unknown queue '{m.queue}'")
        if m.domain and m.specialty:
            problems.append(f"matters[{i}]: a queue or matter has a domain or a specialty, "
                            "not both")
    for i, w in windows:
        for letter in w.queues:
            if letter not in letters:
                problems.append(f"windows[{i}].queues: unknown queue '{letter}'")
    numbers = {w.number for _, w in windows}
    for i, s in staff:
        for n in s.windows:
            if n not in numbers:
                problems.append(f"staff[{i}].windows: unknown window {n}")
    for name, found in (("queues", queues), ("matters", matters), ("windows", windows)):
        if not raw.get(name):
            problems.append(f"{name}: a hall needs at least one {name[:-1]}")
        del found

    integrated = _listed(head, top, "integrated_domains")
    groups = _listed(head, top, "priority_groups") or tuple(PRIORITY_GROUPS)
    cfg = HallConfig(
        id=head.id if head else "", name_zh=head.name_zh if head else "",
        name_en=head.name_en if head else "",
        level=HallLevel(head.level) if head else HallLevel.COUNTY,
        timezone=head.timezone if head else "UTC",
        hours=OpeningHours(tuple(head.hours.weekdays),
                           tuple(_pair(p) for p in head.hours.periods),
                           dict(head.hours.by_weekday)) if head else OpeningHours(),
        rules=rules.rules() if rules else Rules(),
        matters=tuple(Matter(m.code, m.name_zh, m.name_en, m.queue, m.expected_minutes,
                             m.domain, m.specialty, m.life_event, m.department,
                             tuple(m.documents_zh), tuple(m.documents_en), m.notes_zh,
                             m.notes_en, m.bookable)
                      for _, m in matters),
        queues=tuple(Queue(q.letter, q.name_zh, q.name_en, q.domain, q.specialty)
                     for _, q in queues),
        windows=tuple(Window(w.number, w.name_zh, w.name_en, WindowKind(w.kind),
                             tuple(w.queues), tuple(w.specialties), w.lendable)
                      for _, w in windows),
        integrated_domains=integrated, priority_groups=groups,
        staff=tuple(Staff(s.id, s.name, s.staff_number, s.role, tuple(s.windows))
                    for _, s in staff),
        notices=tuple(head.notices) if head else (),
        notices_en=tuple(head.notices_en) if head else (),
        voice=top.voice if top else {}, tide=top.tide if top else {},
        appointments=top.appointments if top else {},
        calendar=dict(head.calendar) if head else {},
    )
    problems.extend(_coverage(cfg, queues, matters, windows))
    if problems:
        raise ConfigError(source, problems)
    return cfg


def _pair(period: str) -> tuple[str, str]:
    start, end = period.split("-")
    return start, end


def _listed(head: HallTable | None, top: FileTables | None, name: str) -> tuple[str, ...]:
    """A list that may sit at the top of the file or (a TOML slip) inside [hall]."""
    inside = getattr(head, name, None) if head else None
    if inside is not None:
        return tuple(inside)
    return tuple(getattr(top, name)) if top else ()


def _duplicates(items: list[tuple[int, Any]], key: str, message: str) -> list[str]:
    seen: set[Any] = set()
    out = []
    for i, item in items:
        value = getattr(item, key)
        if value in seen:
            out.append(f"{_name_of(item)}[{i}].{key}: {message.format(value)}")
        seen.add(value)
    return out


def _name_of(item: BaseModel) -> str:
    return {QueueTable: "queues", MatterTable: "matters", WindowTable: "windows",
            StaffTable: "staff"}[type(item)]


def _coverage(cfg: HallConfig, queues: list[tuple[int, QueueTable]],
              matters: list[tuple[int, MatterTable]],
              windows: list[tuple[int, WindowTable]]) -> list[str]:
    """Every queue has a window and a matter; every matter a window; enough clerks."""
    out = []
    letters = {q.letter for _, q in queues}
    for i, q in queues:
        if not cfg.windows_serving(q.letter):
            out.append(f"queues[{i}]: no window serves queue '{q.letter}'")
        if not any(m.queue == q.letter for _, m in matters):
            out.append(f"queues[{i}]: queue '{q.letter}' has no matter")
    for i, m in matters:
        if m.queue in letters and not cfg.windows_serving(m.queue):
            out.append(f"matters[{i}]: no window serves matter '{m.code}' (queue '{m.queue}')")
    clerks = sum(1 for s in cfg.staff if s.role == "clerk")
    fixed = sum(1 for _, w in windows if w.kind != WindowKind.TIDE.value)
    if windows and clerks < fixed:
        out.append(f"staff: {clerks} clerks cannot staff {len(windows)} windows")
    return out
