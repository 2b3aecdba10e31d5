"""One error for every mistake in a hall file, and pydantic's errors turned into plain words.

Every table of a hall file (the core tables here, ``[tide]`` in ``tide.settings``,
``[voice]`` in ``voice.settings``, …) is declared as a pydantic model with
``extra="forbid"`` and checked with ``check``; each problem reads
``field.path: explanation`` (``windows[1].number: must be a whole number, got '1'``),
and all of them arrive together in one ``ConfigError``.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

M = TypeVar("M", bound=BaseModel)
Loc = tuple[str | int, ...]


class ConfigError(Exception):
    """A hall file (or one of its tables) with mistakes; ``problems`` lists each as
    'field: explanation'. ``source`` names the file ("" when not known)."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        text = "; ".join(problems)
        super().__init__(f"{source}: {text}" if source else text)


def where(loc: Iterable[str | int]) -> str:
    """('windows', 1, 'number') → 'windows[1].number'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def check(model: type[M], data: Any, loc: Loc, problems: list[str]) -> M | None:
    """Validate ``data`` as ``model``; on mistakes add them to ``problems`` and return None."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems.extend(describe(exc, model, loc))
        return None


def describe(exc: ValidationError, model: type[BaseModel], prefix: Loc = ()) -> list[str]:
    """Each pydantic error as 'field.path: explanation' in the hall file's own words."""
    out = []
    for error in exc.errors():
        loc = tuple(p for p in error["loc"] if not _is_union_tag(p))
        text = _explain(error, model, loc)
        out.append(f"{where(prefix + loc) or 'file'}: {text}")
    return out


def _is_union_tag(part: str | int) -> bool:
    # pydantic adds the member type's name to the location of a union's errors
    return isinstance(part, str) and ("[" in part or part in ("int", "float", "str", "bool"))


def _explain(error: ErrorDetails, model: type[BaseModel], loc: Loc) -> str:
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    if kind in ("value_error", "assertion_error"):
        return str(ctx.get("error", error["msg"])).removeprefix("Value error, ")
    if kind == "missing":
        target = _field_type(model, loc)
        if (isinstance(target, type) and issubclass(target, BaseModel)) or \
                typing.get_origin(target) in (dict, Mapping):
            return f"the [{where(loc)}] table is missing"
        return "required text is missing" if target is str else "required field is missing"
    if kind == "extra_forbidden":
        known = _known_fields(model, loc[:-1])
        return f"unknown field (known: {', '.join(known)})" if known else "unknown field"
    if kind in ("enum", "literal_error"):
        choices = [c.strip().strip("'") for c in
                   str(ctx.get("expected", "")).replace(" or ", ", ").split(",")]
        if len(choices) > 2:
            return f"must be one of {', '.join(choices)}; got {value!r}"
        return f"must be {' or '.join(choices)}, got {value!r}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"must be a whole number, got {value!r}"
    if kind in ("float_type", "float_parsing", "finite_number"):
        return f"must be a number, got {value!r}"
    if kind in ("bool_type", "bool_parsing"):
        return f"must be true or false, got {value!r}"
    if kind in ("string_type",):
        return f"must be text, got {value!r}"
    if kind in ("greater_than_equal", "less_than_equal"):
        low, high = _bounds(model, loc)
        if low is not None and high is not None:
            return f"must be from {low} to {high}, got {value!r}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        words = {"greater_than_equal": "at least", "greater_than": "above",
                 "less_than_equal": "at most", "less_than": "below"}[kind]
        bound = next(iter(ctx.values()), "")
        return f"must be {words} {bound}, got {value!r}"
    if kind in ("list_type", "tuple_type"):
        if _holds_tables(model, loc):
            return f"must be an array of tables ([[{loc[-1]}]])"
        return "must be a list"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return "must be a table"
    if kind in ("too_short", "too_long"):
        return str(error["msg"]).replace("List should", "must").replace("Value should", "must")
    return str(error["msg"])


def _unwrap(tp: Any) -> Any:
    """Optional[X] / Annotated[X, …] → X."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(members) != 1:
                return tp
            tp = members[0]
        else:
            return tp


def _field_type(model: type[BaseModel], loc: Loc) -> Any:
    """The declared type at ``loc`` inside ``model`` (None when it cannot be followed)."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(part, int):
            args = typing.get_args(current)
            if typing.get_origin(current) in (list, tuple) and args:
                current = args[0]
                continue
            return None
        if isinstance(current, type) and issubclass(current, BaseModel):
            found = current.model_fields.get(part)
            if found is None:
                return None
            current = found.annotation
        elif typing.get_origin(current) in (dict, Mapping) and typing.get_args(current):
            current = typing.get_args(current)[1]
        else:
            return None
    return _unwrap(current)


def _bounds(model: type[BaseModel], loc: Loc) -> tuple[Any, Any]:
    """The inclusive (ge, le) bounds declared on the field at ``loc``, when both are."""
    if not loc or not isinstance(loc[-1], str):
        return None, None
    parent = _field_type(model, loc[:-1]) if loc[:-1] else model
    if not (isinstance(parent, type) and issubclass(parent, BaseModel)):
        return None, None
    info = parent.model_fields.get(loc[-1])
    low = high = None
    for item in info.metadata if info else ():
        low = getattr(item, "ge", low)
        high = getattr(item, "le", high)
    return low, high


def _known_fields(model: type[BaseModel], loc: Loc) -> list[str]:
    target = _field_type(model, loc) if loc else model
    if isinstance(target, type) and issubclass(target, BaseModel):
        return sorted(target.model_fields)
    return []


def _holds_tables(model: type[BaseModel], loc: Loc) -> bool:
    """Is the field at ``loc`` a list of tables ([[name]])?"""
    target = _field_type(model, loc)
    args = typing.get_args(target)
    if typing.get_origin(target) not in (list, tuple) or not args:
        return False
    item = _unwrap(args[0])
    return (isinstance(item, type) and issubclass(item, BaseModel)) or \
        typing.get_origin(item) in (dict, Mapping)
