"""Lists of halls that page instead of listing a province's 20,000 at once (pure).

``page_query`` reads ``offset``/``limit`` (and the ``region``/``level`` filters) from a
query string, refusing bad values with the domain's ``Invalid``; ``select`` applies them;
``QUERY`` declares them for OpenAPI (``hall.http.api``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from hall.config import HallConfig
from hall.errors import Invalid
from hall.http import F

MAX_LIMIT = 500

QUERY = (
    F("region", str, max_length=32, description="only halls of this city (HallConfig.region)"),
    F("level", str, choices=("city", "county", "town", "village")),
    F("offset", int, description="halls skipped (default 0)"),
    F("limit", int, description=f"halls listed, 1-{MAX_LIMIT} (default 100)"),
)


@dataclass(frozen=True)
class PageQuery:
    region: str | None = None
    level: str | None = None
    offset: int = 0
    limit: int = 100


def _whole(raw: str | None, name: str, default: int, low: int, high: int) -> int:
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise Invalid(f"{name} must be a whole number from {low} to {high}",
                      code="invalid_field")
    return int(raw)


def page_query(params: Mapping[str, str], default_limit: int = 100) -> PageQuery:
    level = params.get("level") or None
    if level is not None and level not in ("city", "county", "town", "village"):
        raise Invalid("level must be one of city, county, town, village", code="invalid_field")
    region = params.get("region") or None
    if region is not None and (len(region) > 32 or not region.replace("-", "").isalnum()):
        raise Invalid("region holds up to 32 letters, digits or '-'", code="invalid_field")
    return PageQuery(region, level, _whole(params.get("offset"), "offset", 0, 0, 10**7),
                     _whole(params.get("limit"), "limit", default_limit, 1, MAX_LIMIT))


def matching(halls: Iterable[HallConfig], q: PageQuery) -> list[HallConfig]:
    """The halls the filters keep, in their configured order."""
    return [h for h in halls if (q.region is None or h.region == q.region)
            and (q.level is None or h.level.value == q.level)]


def page(found: list[HallConfig], q: PageQuery) -> tuple[list[HallConfig], int | None]:
    """One page of ``found`` and the offset of the next page (None on the last)."""
    end = q.offset + q.limit
    return found[q.offset:end], end if end < len(found) else None
