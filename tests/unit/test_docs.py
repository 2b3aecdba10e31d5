"""The documents stay true: every route, error code, hall field and routing bound is in them."""

from __future__ import annotations

from pathlib import Path

from hall.app import create_app
from hall.config import load_hall, schema
from hall.http import openapi_document
from hall.settings import Settings
from tests.support import error_codes
from ticketing.rules import pass_over_bound_minutes

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def test_api_md_lists_every_documented_route() -> None:
    create_app(Settings(redis_url="redis://unused", start_worker=False))
    text = (DOCS / "API.md").read_text(encoding="utf-8")
    missing = [f"{m.upper()} {p}" for p, ops in openapi_document()["paths"].items() for m in ops
               if f"`{m.upper()} {p}`" not in text]
    assert not missing, f"run `.venv/bin/python -m hall.apidoc docs/API.md`; missing {missing}"


def test_api_md_explains_every_error_code_of_every_package() -> None:
    """Every code any package can answer with (tests.support.error_codes scans them all)."""
    text = (DOCS / "API.md").read_text(encoding="utf-8")
    codes = error_codes() - {"bad_request"}  # the abstract base; never raised as such
    assert codes >= {"malformed_request", "unknown_ticket", "illegal_transition",
                     "not_replicated", "audio_not_found", "store_unavailable", "not_ready"}
    missing = sorted(c for c in codes if f"`{c}`" not in text)
    assert not missing, f"docs/API.md does not list {missing}"


def test_halls_md_describes_every_field() -> None:
    text = (DOCS / "HALLS.md").read_text(encoding="utf-8")
    tables = [v for v in vars(schema).values() if isinstance(v, type)
              and issubclass(v, schema.Table) and v not in (schema.Table, schema.FileTables)]
    fields = {name for table in tables for name in table.model_fields}
    missing = sorted(f for f in fields if f"`{f}`" not in text)
    assert not missing


def test_routing_md_states_the_district_bounds() -> None:
    text = (DOCS / "ROUTING.md").read_text(encoding="utf-8")
    cfg = load_hall(ROOT / "hall/halls/district.toml")
    r = cfg.rules
    assert f"| `priority_head_start_minutes` (H) | how much earlier a priority ticket counts " \
           f"as having arrived | {r.priority_head_start_minutes:g} |" in text
    for window in (1, 6, 12):
        n = len(cfg.window_queues(window))
        bound = pass_over_bound_minutes(n, r.priority_head_start_minutes, r.queue_step_minutes)
        assert f"**{bound:g} min**" in text, (window, bound)
    assert "B = H + (n − 1) × S" in text
