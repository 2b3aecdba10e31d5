"""A simulated district day: every citizen accounted for, the policy's limits kept, outputs."""

from __future__ import annotations

from hall.config import HallConfig
from tide.policy import Action
from tide.profiles import district_peak_day
from tide.report import plot_svg, summarize, tickets_csv, timeline_csv
from tide.settings import PolicyName, parse_tide
from tide.sim import generate_arrivals, simulate


def test_a_predictive_day_keeps_every_promise(halls: dict[str, HallConfig]) -> None:
    cfg = halls["district"]
    settings = parse_tide(cfg.tide)
    profile = district_peak_day(cfg)
    day = simulate(cfg, settings, profile, seed=3)
    import random

    arrivals = generate_arrivals(cfg, profile, random.Random(3))
    # Everyone who came was called once, gave up once, or missed the call once.
    assert len(day.tickets) == len(arrivals) > 200
    assert {r.outcome for r in day.tickets} <= {"served", "no_show", "abandoned"}
    assert all(r.wait >= 0 for r in day.tickets)
    # Arrivals only in opening hours (09:00-12:00, 13:30-17:30).
    assert all(9 * 3600 <= a.at < 12 * 3600 or 13.5 * 3600 <= a.at < 17.5 * 3600
               for a in arrivals)
    tide = [(t, d) for t, d in day.decisions if d.window == 12]
    assert tide and len(tide) <= settings.max_toggles_per_day
    assert [d.action for _, d in tide][:2] == [Action.OPEN, Action.CLOSE]
    opened_at = tide[0][0]
    # The standby clerk needs 3 minutes: the window calls nobody before that.
    first_call = min(r.arrived + r.wait for r in day.tickets if r.window == 12)
    assert first_call >= opened_at + profile.startup_minutes * 60 - 1e-6
    # Window 12 serves only the queues it is configured for.
    assert {r.queue for r in day.tickets if r.window == 12} <= set(cfg.window_queues(12))
    summary = summarize(day)
    assert 0 < summary.tide_window_hours < 8
    assert summary.hall.served + summary.hall.abandoned + summary.hall.no_shows == len(arrivals)


def test_off_never_opens_and_a_seed_replays_the_same_day(halls: dict[str, HallConfig]) -> None:
    cfg = halls["district"]
    settings = parse_tide(cfg.tide).with_(policy=PolicyName.OFF)
    a = simulate(cfg, settings, district_peak_day(cfg), seed=5)
    b = simulate(cfg, settings, district_peak_day(cfg), seed=5)
    assert a.decisions == [] and summarize(a).tide_window_hours == 0
    assert [(r.number, r.wait, r.outcome) for r in a.tickets] == [
        (r.number, r.wait, r.outcome) for r in b.tickets]
    assert all(r.window != 12 for r in a.tickets)


def test_outputs_csv_and_svg(halls: dict[str, HallConfig]) -> None:
    cfg = halls["district"]
    day = simulate(cfg, parse_tide(cfg.tide), district_peak_day(cfg), seed=1)
    timeline = timeline_csv(day).splitlines()
    assert timeline[0].startswith("time,waiting_A,") and "open_windows" in timeline[0]
    assert any(",open 12: " in line for line in timeline[1:])
    tickets = tickets_csv(day).splitlines()
    assert tickets[0] == "number,queue,matter,arrived,wait_min,outcome,window"
    assert len(tickets) == len(day.tickets) + 1
    svg = plot_svg(day, "district")
    assert svg.startswith("<svg") and svg.count("<polyline") == 2 and "09:00" in svg
