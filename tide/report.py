"""What a simulated day shows: per-queue waits, window-hours, toggles; CSV, SVG plot, tables."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tide.sim import DayResult, TicketRecord


@dataclass(frozen=True)
class WaitStats:
    count: int
    mean_min: float
    p90_min: float
    max_min: float
    over_target: float  # share of citizens who waited longer than the target
    served: int
    abandoned: int
    no_shows: int


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def wait_stats(records: Sequence[TicketRecord], target_minutes: float) -> WaitStats:
    """Waits of everyone who stopped waiting (called, or gave up), in minutes."""
    waits = [r.wait / 60.0 for r in records if r.counted]
    counted = [r for r in records if r.counted]
    return WaitStats(
        len(waits), sum(waits) / len(waits) if waits else 0.0, percentile(waits, 0.9),
        max(waits, default=0.0),
        sum(1 for w in waits if w > target_minutes) / len(waits) if waits else 0.0,
        sum(1 for r in counted if r.outcome == "served"),
        sum(1 for r in counted if r.outcome == "abandoned"),
        sum(1 for r in counted if r.outcome == "no_show"))


@dataclass(frozen=True)
class EstimateAccuracy:
    """How well the wait quoted at issue matched the real wait (served tickets, first leg)."""

    tickets: int
    within: float  # share with |real - quoted| <= max(5 min, 25 % of quoted)
    median_error_min: float  # median |real - quoted|

    @property
    def met(self) -> bool:
        return self.within >= 0.8


def estimate_accuracy(records: Sequence[TicketRecord]) -> EstimateAccuracy:
    """Quoted against real waits of a simulated day's served tickets (first leg)."""
    return accuracy_of([(r.quoted / 60.0, r.wait / 60.0) for r in records
                        if r.quoted is not None and r.outcome == "served" and r.counted
                        and r.leg == 1])


def accuracy_of(pairs: Sequence[tuple[float, float]]) -> EstimateAccuracy:
    """(quoted, real) waits in minutes: the share within ±max(5 min, 25 % of the quote) and
    the median absolute error (live days: ``tide.quotes``; simulated: above)."""
    if not pairs:
        return EstimateAccuracy(0, 0.0, 0.0)
    errors = sorted(abs(w - q) for q, w in pairs)
    hits = sum(abs(w - q) <= max(5.0, 0.25 * q) for q, w in pairs)
    return EstimateAccuracy(len(pairs), hits / len(pairs), percentile(errors, 0.5))


@dataclass(frozen=True)
class DaySummary:
    policy: str
    seed: int
    hall: WaitStats
    queues: dict[str, WaitStats]
    window_hours: float
    tide_window_hours: float
    toggles: dict[int, int]  # window -> open/close/lend/return decisions

    @property
    def max_toggles(self) -> int:
        return max(self.toggles.values(), default=0)


def summarize(day: DayResult, target_minutes: float = 15.0) -> DaySummary:
    queues = sorted({r.queue for r in day.tickets})
    toggles: dict[int, int] = {}
    for _, d in day.decisions:
        toggles[d.window] = toggles.get(d.window, 0) + 1
    return DaySummary(
        day.policy, day.seed, wait_stats(day.tickets, target_minutes),
        {q: wait_stats([r for r in day.tickets if r.queue == q], target_minutes)
         for q in queues},
        sum(day.window_seconds.values()) / 3600.0,
        sum(s for n, s in day.window_seconds.items() if n in day.tide_windows) / 3600.0,
        toggles)


def queue_table(summary: DaySummary) -> str:
    lines = ["queue   n   mean   P90    max  >target served abandoned no-show"]
    rows = [*summary.queues.items(), ("all", summary.hall)]
    for q, s in rows:
        lines.append(f"{q:<5}{s.count:>4} {s.mean_min:>6.1f} {s.p90_min:>5.1f} {s.max_min:>6.1f}"
                     f" {s.over_target:>7.1%} {s.served:>6} {s.abandoned:>9} {s.no_shows:>7}")
    lines.append(f"window-hours {summary.window_hours:.1f} (tide {summary.tide_window_hours:.2f});"
                 f" toggles per window {summary.toggles or 'none'}")
    return "\n".join(lines)


def comparison_table(groups: dict[str, list[DaySummary]]) -> str:
    """One row per policy: means over its seeded days."""
    head = (f"{'policy':<24}{'days':>5}{'mean':>7}{'P90':>7}{'>15min':>8}{'abandon':>8}"
            f"{'win-h':>8}{'tide-h':>8}{'toggles/d':>10}{'max tog':>8}")
    lines = [head, "-" * len(head)]
    for label, days in groups.items():
        n = len(days)
        lines.append(
            f"{label:<24}{n:>5}"
            f"{sum(d.hall.mean_min for d in days) / n:>7.1f}"
            f"{sum(d.hall.p90_min for d in days) / n:>7.1f}"
            f"{sum(d.hall.over_target for d in days) / n:>8.1%}"
            f"{sum(d.hall.abandoned for d in days) / n:>8.1f}"
            f"{sum(d.window_hours for d in days) / n:>8.1f}"
            f"{sum(d.tide_window_hours for d in days) / n:>8.2f}"
            f"{sum(sum(d.toggles.values()) for d in days) / n:>10.1f}"
            f"{max(d.max_toggles for d in days):>8}")
    return "\n".join(lines)


def timeline_csv(day: DayResult) -> str:
    queues = sorted(day.samples[0].waiting) if day.samples else []
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["time", *[f"waiting_{q}" for q in queues], "waiting", "open_windows",
                "tide_open", "decision"])
    decided: dict[int, list[str]] = {}  # several windows may change in one controller run
    for t, d in day.decisions:
        decided.setdefault(round(t), []).append(f"{d.action.value} {d.window}: {d.reason_en}")
    for s in day.samples:
        w.writerow([_hhmm(s.at), *[s.waiting[q] for q in queues], sum(s.waiting.values()),
                    s.open_windows, s.tide_open, "; ".join(decided.get(round(s.at), []))])
    return out.getvalue()


def tickets_csv(day: DayResult) -> str:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["number", "queue", "matter", "arrived", "wait_min", "outcome", "window"])
    for r in sorted(day.tickets, key=lambda r: r.arrived):
        w.writerow([r.number, r.queue, r.matter, _hhmm(r.arrived), f"{r.wait / 60:.1f}",
                    r.outcome, r.window or ""])
    return out.getvalue()


def _hhmm(seconds: float) -> str:
    m = int(seconds // 60)
    return f"{m // 60:02d}:{m % 60:02d}"


def plot_svg(day: DayResult, title: str = "") -> str:
    """Waiting people (line) and open windows (steps) over the day, as a standalone SVG."""
    width, height, pad = 900, 360, 50
    if not day.samples:
        return f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"/>'
    t0 = math.floor(day.samples[0].at / 3600) * 3600.0
    t1 = max(day.samples[-1].at, t0 + 1)
    top_wait = max(max(sum(s.waiting.values()) for s in day.samples), 1)
    top_win = max(max(s.open_windows for s in day.samples), 1)

    def x(t: float) -> float:
        return pad + (t - t0) / (t1 - t0) * (width - 2 * pad)

    def y(v: float, top: float) -> float:
        return height - pad - v / top * (height - 2 * pad)

    wait_pts = " ".join(f"{x(s.at):.1f},{y(sum(s.waiting.values()), top_wait):.1f}"
                        for s in day.samples)
    win_pts: list[str] = []
    for a, b in zip(day.samples, [*day.samples[1:], day.samples[-1]], strict=True):
        win_pts += [f"{x(a.at):.1f},{y(a.open_windows, top_win):.1f}",
                    f"{x(b.at):.1f},{y(a.open_windows, top_win):.1f}"]
    ticks = "".join(
        f'<text x="{x(h * 3600):.1f}" y="{height - pad + 18}" font-size="11" '
        f'text-anchor="middle">{h:02d}:00</text>'
        for h in range(math.ceil(t0 / 3600), math.floor(t1 / 3600) + 1))
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>'
        f'<text x="{pad}" y="24" font-size="14">{_esc(title)}</text>'
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
        f'stroke="black"/>{ticks}'
        f'<polyline fill="none" stroke="#c0392b" stroke-width="2" points="{wait_pts}"/>'
        f'<polyline fill="none" stroke="#2471a3" stroke-width="2" points="{" ".join(win_pts)}"/>'
        f'<text x="{width - pad}" y="40" font-size="12" fill="#c0392b" text-anchor="end">'
        f'waiting people (max {top_wait})</text>'
        f'<text x="{width - pad}" y="56" font-size="12" fill="#2471a3" text-anchor="end">'
        f'open windows (max {top_win})</text></svg>')


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write_day(day: DayResult, folder: Path, label: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = {f"{label}-timeline.csv": timeline_csv(day), f"{label}-tickets.csv": tickets_csv(day),
             f"{label}.svg": plot_svg(day, f"{day.hall} · {label}")}
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return [folder / n for n in files]
