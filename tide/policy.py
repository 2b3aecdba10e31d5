"""Tide policies: hall load in, decisions out (open / close a tide window, lend / return a window).

Three policies, chosen per hall in ``[tide]``: ``off`` decides nothing; ``threshold``
opens above and closes below configured limits (hysteresis, a minimum open and closed
time); ``predictive`` forecasts the next ``lag_minutes`` of arrivals from the smoothed
rate and the hall's time-of-day pattern, adds the backlog that will have built up by
then, and staffs with Erlang C so a newcomer waits at most the target, queue by queue
(a tide window serving a busy domain queue and a quiet general one is judged by the
busy one). It closes only when every queue it serves would stay comfortable without it;
a close that leaves no opening in the day's toggle budget looks at the forecast to the
end of the day, without counting on a lent window (it goes back when its own queue
fills), so both openings are not spent before a later peak. Both active
policies lend a ``lendable`` window to an overloaded queue when its own queues are
quiet (the predictive one to the queue lacking the most servers, moving it when another
queue with people waiting clearly lacks more, keeping it while any queue may need it later
in the day), and take it back. Every decision carries its reason in Chinese and English.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from functools import lru_cache
from typing import Any

from hall.config import HallConfig
from ticketing.model import WindowStatus
from ticketing.rules import served_queues
from tide.hours import day_end, outside_day, periods
from tide.load import LONG_FACTOR, HallLoad, QueueLoad, window_shares
from tide.settings import Mode, PolicyName, TideSettings


class Action(str, Enum):
    OPEN = "open"
    CLOSE = "close"
    LEND = "lend"
    RETURN = "return"


@dataclass(frozen=True)
class Decision:
    action: Action
    window: int
    queues: tuple[str, ...] = ()  # open: queues served; lend: the window's new queue list
    clerk: str | None = None
    reason_zh: str = ""
    reason_en: str = ""
    end_of_day: bool = False  # a lent window given back after the hall's day

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action.value, "window": self.window, "queues": list(self.queues),
                "clerk": self.clerk, "reason_zh": self.reason_zh, "reason_en": self.reason_en,
                "end_of_day": self.end_of_day}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Decision:
        return cls(Action(data["action"]), int(data["window"]), tuple(data.get("queues") or ()),
                   data.get("clerk"), str(data.get("reason_zh", "")),
                   str(data.get("reason_en", "")), bool(data.get("end_of_day", False)))


def proposed(mode: Mode, d: Decision) -> bool:
    """Whether ``d`` waits for a manager (advise mode) instead of being applied: every
    decision but the end-of-day return, which only gives a window its own queues back when
    no manager is there to confirm it (proposed, it would lapse and come back all night)."""
    return mode is Mode.ADVISE and not d.end_of_day


@dataclass(frozen=True)
class Hold:
    """Why the policy wants a change it does not make (shown on the tide panel)."""

    window: int
    action: Action
    code: str  # closed_hours | budget | resting | no_standby_clerk | override | pending
    reason_zh: str
    reason_en: str

    def to_dict(self) -> dict[str, Any]:
        return {"window": self.window, "action": self.action.value, "code": self.code,
                "reason_zh": self.reason_zh, "reason_en": self.reason_en}


@dataclass(frozen=True)
class Assessment:
    """A policy run: the decisions to make now and the changes held back, with reasons."""

    decisions: list[Decision]
    holds: list[Hold]


@dataclass(frozen=True)
class WindowMemory:
    changed_at: float = -math.inf
    toggles: int = 0
    manual: int = 0  # of ``toggles``, how many were a manager's override


_UNCHANGED = WindowMemory()  # a window the policy has not changed today


@dataclass(frozen=True)
class Memory:
    """What a policy remembers between runs: when each window last changed, toggles today."""

    day: str = ""
    windows: Mapping[int, WindowMemory] = field(default_factory=dict)

    def of(self, number: int) -> WindowMemory:
        return self.windows.get(number, _UNCHANGED)

    def to_dict(self) -> dict[str, Any]:
        return {"day": self.day, "windows": {
            str(n): [m.changed_at if math.isfinite(m.changed_at) else None, m.toggles,
                     m.manual]
            for n, m in self.windows.items()}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Memory:
        wins = {int(n): WindowMemory(-math.inf if v[0] is None else float(v[0]), int(v[1]),
                                     int(v[2]) if len(v) > 2 else 0)
                for n, v in dict(data.get("windows", {})).items()}
        return cls(str(data.get("day", "")), wins)


def remember(memory: Memory, applied: list[Decision], now: float, day: str,
             manual: bool = False) -> Memory:
    """Memory after ``applied`` decisions; toggle counts restart each day. A manager's
    override (``manual``) counts against the same daily budget: the clerks moved all the same."""
    wins = dict(memory.windows) if memory.day == day else {
        n: replace(m, toggles=0, manual=0) for n, m in memory.windows.items()}
    for d in applied:
        old = wins.get(d.window, WindowMemory())
        wins[d.window] = WindowMemory(now, old.toggles + 1, old.manual + int(manual))
    return Memory(day, wins)


def standby_clerk(cfg: HallConfig, window: int, busy: frozenset[str]) -> str | None:
    """A clerk who may staff the window (``Staff.may_staff``) not logged in at any window."""
    for s in cfg.staff:
        if s.may_staff(window) and s.id not in busy:
            return s.id
    return None


def decide(
    cfg: HallConfig, settings: TideSettings, load: HallLoad, memory: Memory, hour: float,
    exclude: Mapping[int, str] | frozenset[int] = frozenset(), open_now: bool = True,
) -> list[Decision]:
    """The decisions for this moment (see ``assess``)."""
    return assess(cfg, settings, load, memory, hour, exclude, open_now).decisions


def assess(
    cfg: HallConfig, settings: TideSettings, load: HallLoad, memory: Memory, hour: float,
    exclude: Mapping[int, str] | frozenset[int] = frozenset(), open_now: bool = True,
) -> Assessment:
    """The decisions for this moment and the changes held back, each with its reason.

    ``hour`` is the hall-local hour of day (0-24, fractional); ``exclude`` maps windows the
    policy must leave alone to why (``override`` or ``pending``); ``open_now`` is False
    outside opening hours and in a closure such as lunch, when nothing opens or is lent.
    """
    if settings.policy is PolicyName.OFF:
        return Assessment([], [])
    held = exclude if isinstance(exclude, Mapping) else dict.fromkeys(exclude, "pending")
    out: list[Decision] = []
    holds: list[Hold] = []
    busy = set(load.busy_clerks)
    for w in cfg.tide_windows:
        d, hold = _tide_window(cfg, settings, load, memory, hour, w.number, frozenset(busy),
                               held.get(w.number), open_now)
        if hold is not None:
            holds.append(hold)
        if d is not None:
            out.append(d)
            if d.clerk:
                busy.add(d.clerk)
    if settings.lend:
        lends, lend_holds = _lending(cfg, settings, load, memory, held, hour, open_now,
                                     _opened_shares(load, out))
        out.extend(lends)
        holds.extend(lend_holds)
    return Assessment(out, holds)


def _rest_left(settings: TideSettings, memory: Memory, number: int, now: float,
               opening: bool) -> float:
    """Seconds until the window has rested long enough since its last change."""
    rest = settings.min_closed_minutes if opening else settings.min_open_minutes
    return max(0.0, rest * 60.0 - (now - memory.of(number).changed_at))


def _budget_left(settings: TideSettings, memory: Memory, number: int) -> bool:
    # Opening must leave room for the matching close within the day's toggle budget.
    return memory.of(number).toggles + 2 <= settings.max_toggles_per_day


def _may_change(settings: TideSettings, memory: Memory, number: int, now: float,
                opening: bool) -> bool:
    if _rest_left(settings, memory, number, now, opening) > 0:
        return False
    return not opening or _budget_left(settings, memory, number)


def _why_not(cfg: HallConfig, settings: TideSettings, memory: Memory, number: int, now: float,
             action: Action, excluded: str | None, open_now: bool) -> Hold | None:
    """Why a wanted change to window ``number`` cannot be made now (None: it can)."""
    opening = action in (Action.OPEN, Action.LEND)
    if excluded == "override":
        return Hold(number, action, "override", f"{number}号窗口由管理人员指令控制，解除后恢复自动",
                    f"window {number} is held by a manager override until released")
    if excluded is not None:
        return Hold(number, action, "pending", f"{number}号窗口已有待确认建议",
                    f"a proposal for window {number} awaits confirmation")
    if opening and not open_now:
        return Hold(number, action, "closed_hours", "非办公时间（含午间休息），不开窗不借调",
                    "outside opening hours (or the lunch closure): nothing opens or is lent")
    m = memory.of(number)
    if opening and not _budget_left(settings, memory, number):
        manual = f"，其中管理人员{m.manual}次" if m.manual else ""
        manual_en = f", {m.manual} of them by a manager" if m.manual else ""
        return Hold(number, action, "budget",
                    f"{number}号窗口今日已切换{m.toggles}次{manual}，"
                    f"已达每日{settings.max_toggles_per_day}次上限（需留一次关闭）",
                    f"window {number} toggled {m.toggles} times today{manual_en}; the daily "
                    f"budget of {settings.max_toggles_per_day} (keeping one for the close) "
                    "is spent")
    left = _rest_left(settings, memory, number, now, opening)
    if left > 0:
        return Hold(number, action, "resting",
                    f"{number}号窗口刚切换过，{math.ceil(left / 60)}分钟后方可再次调整",
                    f"window {number} changed recently; it may change again in "
                    f"{math.ceil(left / 60)} min")
    return None


def _tide_window(
    cfg: HallConfig, settings: TideSettings, load: HallLoad, memory: Memory, hour: float,
    number: int, busy: frozenset[str], excluded: str | None, open_now: bool,
) -> tuple[Decision | None, Hold | None]:
    window = load.windows.get(number)
    status = window.status if window is not None else WindowStatus.CLOSED
    if status is WindowStatus.CLOSING:
        return None, None
    queues = cfg.window_queues(number)
    pool = [load.queues[q] for q in queues if q in load.queues]
    if not pool:
        return None, None
    is_open = status is not WindowStatus.CLOSED
    if settings.policy is PolicyName.THRESHOLD:
        hot, cool, why_zh, why_en = _threshold(settings, pool, cfg)
    else:
        # A close that leaves no room in the toggle budget for another opening is final.
        final = is_open and memory.of(number).toggles + 3 > settings.max_toggles_per_day
        shares = _tide_shares(pool, is_open)
        if final:
            # A lent window goes back when its own queue fills: a final close does not
            # count on it for the rest of the day.
            for q, share in _lent_shares(cfg, load).items():
                if q in shares:
                    shares[q] += share
        hot, cool, why_zh, why_en = _predictive(settings, pool, cfg, hour, is_open, final,
                                                shares)
    name_zh = f"{number}号潮汐窗口"
    want = (Action.OPEN if not is_open and hot else
            Action.CLOSE if is_open and cool else None)
    if want is None:
        return None, None
    hold = _why_not(cfg, settings, memory, number, load.at, want, excluded, open_now)
    if hold is not None:
        return None, Hold(number, want, hold.code, f"{why_zh}；但{hold.reason_zh}",
                          f"{why_en}; but {hold.reason_en}")
    if want is Action.OPEN:
        clerk = standby_clerk(cfg, number, busy)
        if clerk is None:
            return None, Hold(number, want, "no_standby_clerk",
                              f"{why_zh}；但没有空闲的备岗人员",
                              f"{why_en}; but no standby clerk rostered for window {number} "
                              "is free")
        return Decision(Action.OPEN, number, queues, clerk,
                        f"{why_zh}；备岗人员{clerk}可上岗，开放{name_zh}",
                        f"{why_en}; standby clerk {clerk} available: open tide window "
                        f"{number}"), None
    return Decision(Action.CLOSE, number, queues, window.clerk if window else None,
                    f"{why_zh}，关闭{name_zh}（办完当前业务后）",
                    f"{why_en}: close tide window {number} after its current ticket"), None


def _threshold(settings: TideSettings, pool: list[QueueLoad], cfg: HallConfig
               ) -> tuple[bool, bool, str, str]:
    worst = max(pool, key=lambda q: (q.predicted_wait_seconds, q.waiting))
    wait_min = worst.predicted_wait_seconds / 60.0
    hot = worst.waiting >= settings.open_waiting or wait_min >= settings.open_wait_minutes
    cool = all(q.waiting <= settings.close_waiting
               and q.predicted_wait_seconds / 60.0 <= settings.close_wait_minutes for q in pool)
    qz, qe = _names(cfg, worst.queue)
    if hot:
        return (True, False, f"{qz}：{worst.waiting}人等候，预计等候{wait_min:.0f}分钟",
                f"{qe}: {worst.waiting} waiting, predicted wait {wait_min:.0f} min")
    waiting = sum(q.waiting for q in pool)
    return (False, cool, f"等候人数降至{waiting}人", f"waiting down to {waiting}")


def forecast_growth(profile: tuple[float, ...], hour: float, lag_hours: float,
                    smoothing_hours: float) -> float:
    """Ratio of the profile's mean over the next ``lag`` to its mean over the recent past."""
    if len(profile) != 24:
        return 1.0

    def mean(a: float, b: float) -> float:
        steps = 12
        return sum(profile[math.floor(a + (b - a) * (i + 0.5) / steps) % 24]
                   for i in range(steps)) / steps

    past = mean(hour - smoothing_hours, hour)
    ahead = mean(hour, hour + lag_hours)
    if past <= 0:
        return 1.0 if ahead <= 0 else 3.0
    return min(3.0, ahead / past)


def _erlang_c(arrivals_per_s: float, service_s: float,
              servers: float) -> tuple[float, float] | None:
    """M/M/c's probability of waiting and the rate ``cμ − λ`` its wait decays at; None when
    the queue grows without bound (no server, or load ≥ servers). Fractional c is read as
    floor(c) faster servers."""
    n = math.floor(servers)
    if n < 1:
        return None
    mu = servers / n / service_s
    a = arrivals_per_s / mu
    if a >= n:
        return None
    term, total = 1.0, 1.0
    for k in range(1, n):
        term *= a / k
        total += term
    last = term * a / n * n / (n - a)
    return last / (total + last), n * mu - arrivals_per_s


def erlang_c_wait(arrivals_per_s: float, service_s: float, servers: float) -> float:
    """Mean wait in queue (s) of M/M/c."""
    if arrivals_per_s <= 0:
        return 0.0
    queue = _erlang_c(arrivals_per_s, service_s, servers)
    if queue is None:
        return math.inf
    p_wait, decay = queue
    return p_wait / decay


def erlang_c_quantile(arrivals_per_s: float, service_s: float, servers: float,
                      q: float) -> float:
    """The ``q`` quantile of the wait in queue (s) of M/M/c: P(W > t) = C · e^(-(cμ-λ)t)."""
    if arrivals_per_s <= 0:
        return 0.0
    queue = _erlang_c(arrivals_per_s, service_s, servers)
    if queue is None:
        return math.inf
    p_wait, decay = queue
    tail = 1.0 - q
    if p_wait <= tail:
        return 0.0
    return math.log(p_wait / tail) / decay


def profile_kernel(profile: tuple[float, ...], hour: float, tau_hours: float) -> float:
    """The profile seen through the same exponential window as a smoothed rate at ``hour``."""
    return _kernel(profile, round(hour * 60.0) / 60.0, tau_hours)


@lru_cache(maxsize=4096)
def _kernel(profile: tuple[float, ...], hour: float, tau_hours: float) -> float:
    step = tau_hours / 20.0
    total = weight = 0.0
    for i in range(80):
        age = (i + 0.5) * step
        w = math.exp(-age / tau_hours)
        total += profile[math.floor(hour - age) % 24] * w
        weight += w
    return total / weight


@lru_cache(maxsize=4096)
def profile_mean(profile: tuple[float, ...], a: float, b: float) -> float:
    steps = 12
    return sum(profile[math.floor(a + (b - a) * (i + 0.5) / steps) % 24]
               for i in range(steps)) / steps


def forecast_rate(settings: TideSettings, pool: list[QueueLoad], hour: float,
                  ahead_hours: float) -> float:
    """Arrivals per second expected over the next ``ahead_hours``: the day's level (slow
    rate over the profile seen through the same window) times the profile ahead; the fast
    rate, scaled the same way, catches surges the pattern does not know."""
    return _rates_from(settings, pool, hour)(_level_ahead(settings, hour, ahead_hours))


def _level_ahead(settings: TideSettings, hour: float, ahead_hours: float) -> float:
    """The profile's mean level over the next ``ahead_hours`` (0 without a profile)."""
    profile = settings.hourly_profile
    return profile_mean(profile, hour, hour + ahead_hours) if len(profile) == 24 else 0.0


def _rates_from(settings: TideSettings, pool: list[QueueLoad],
                hour: float) -> Callable[[float], float]:
    """Arrivals per second where the profile's level is ``ahead``, seen from ``hour``, as a
    function of ``ahead`` (the rates and the profile's kernels read once)."""
    fast = sum(q.arrivals_per_hour for q in pool)
    slow = sum(q.arrivals_per_hour_long for q in pool)
    profile = settings.hourly_profile
    if len(profile) != 24:
        flat = max(fast, slow) / 3600.0
        return lambda ahead: flat
    tau = settings.smoothing_minutes / 60.0
    seen = ((fast, profile_kernel(profile, hour, tau)),
            (slow, profile_kernel(profile, hour, tau * LONG_FACTOR)))

    def at(ahead: float) -> float:
        out = 0.0
        for rate, level in seen:
            out = max(out, rate * min(3.0, ahead / level) if level > 0 else rate)
        return out / 3600.0

    return at


def close_horizon(hour: float, lag_hours: float, final: bool, cfg: HallConfig) -> float:
    """The hour until which a tide window must not be needed before it closes: twice the
    look-ahead; for a final close (no opening left in the day's toggle budget), the end of
    the hall's day, so the budget is not spent before a later peak."""
    end = hour + 2 * lag_hours
    if final:
        return max(end, day_end(cfg))
    return end


def _busiest_level(settings: TideSettings, cfg: HallConfig, hour: float,
                   until: float) -> float:
    """The profile's highest quarter-hour level from ``hour`` to ``until`` while the hall is
    open (0 without a profile): with ``_rates_from``, the highest forecast arrival rate over
    that span."""
    profile = settings.hourly_profile
    if len(profile) != 24:
        return 0.0
    start = round(hour * 60.0) / 60.0
    return _busiest_quarter(profile, tuple(periods(cfg)), start,
                            max(start, round(until * 60.0) / 60.0))


@lru_cache(maxsize=4096)
def _busiest_quarter(profile: tuple[float, ...], spans: tuple[tuple[float, float], ...],
                     start: float, until: float) -> float:
    """The profile's highest mean over the quarter hours from ``start`` to ``until`` whose
    middle the hall is open (``spans``)."""
    top, a = 0.0, start
    while a < until - 1e-9:
        b = min(until, a + 0.25)
        if any(x <= (a + b) / 2 < y for x, y in spans):
            top = max(top, profile_mean(profile, a, b))
        a = b
    return top


def _tide_shares(pool: list[QueueLoad], is_open: bool) -> dict[str, float]:
    """The capacity an open window serving ``pool`` gives each queue now (``window_shares``,
    the split ``measure`` made); nothing when it is closed."""
    if not is_open:
        return {}
    base = {q.queue: (q.waiting, q.longest_wait_seconds, q.arrivals_per_hour,
                      q.service_seconds) for q in pool}
    return window_shares(tuple(base), base)


def _queue_wait(settings: TideSettings, backlog: int, lam: float, service: float,
                servers: float, lag: float) -> float:
    """A newcomer's wait (the configured quantile, or the mean) ``lag`` seconds from now:
    the backlog left by then, served by ``servers``, plus the steady-state wait."""
    if servers <= 0:
        return math.inf if backlog or lam else 0.0
    ahead = max(0.0, backlog + (lam - servers / service) * lag)
    steady = (erlang_c_wait(lam, service, servers) if settings.wait_quantile <= 0
              else erlang_c_quantile(lam, service, servers, settings.wait_quantile))
    return ahead * service / servers + steady


def _predictive(settings: TideSettings, pool: list[QueueLoad], cfg: HallConfig, hour: float,
                is_open: bool, final: bool = False,
                shares: Mapping[str, float] | None = None) -> tuple[bool, bool, str, str]:
    """Whether the window serving ``pool`` should open (hot) or may close (cool), judged
    queue by queue: a queue's own capacity without this window (``shares``: what the
    window gives each queue now; by default its work share when open) against its
    forecast arrivals. Hot: some queue's newcomer would wait over the target within the
    look-ahead. Cool: every queue stays well under it without the window, now and, at the
    forecast's busiest quarter hour, up to ``close_horizon`` (a final close looks to the
    end of the day)."""
    lag = settings.lag_minutes * 60.0
    target = settings.target_wait_minutes * 60.0
    if shares is None:
        shares = _tide_shares(pool, is_open)
    until = close_horizon(hour, lag / 3600.0, final, cfg)
    worst: tuple[float, QueueLoad] | None = None
    cool = is_open  # only an open window can close
    for q in pool:
        service = q.service_seconds
        without = max(0.0, q.servers - shares.get(q.queue, 0.0))
        rate_at = _rates_from(settings, [q], hour)
        lam = rate_at(_level_ahead(settings, hour, lag / 3600.0))
        w_without = _queue_wait(settings, q.waiting, lam, service, without, lag)
        if worst is None or w_without > worst[0]:
            worst = (w_without, q)
        if not cool:
            continue
        w_with = _queue_wait(settings, q.waiting, lam, service, without + 1.0, lag)
        peak = max(rate_at(_level_ahead(settings, hour, 2 * lag / 3600.0)),
                   rate_at(_busiest_level(settings, cfg, hour, until)))
        rho = peak * service / without if without > 0 else (math.inf if peak else 0.0)
        cool = (w_without <= target * 0.5 and w_with <= target
                and rho <= settings.close_utilization)
    assert worst is not None
    w_without, q = worst
    qz, qe = _names(cfg, q.queue)
    shown = min(w_without / 60.0, 999.0)
    if w_without > target:
        if not math.isfinite(w_without) or shown >= 999:
            return (True, False, f"{qz}：预计来人超过现有窗口办理能力，队伍将持续变长",
                    f"{qe}: forecast arrivals exceed the open windows' capacity; "
                    "the queue would keep growing")
        return (True, False,
                f"{qz}：{settings.lag_minutes:.0f}分钟后预计等候{shown:.0f}分钟，"
                f"超过{target / 60:.0f}分钟目标",
                f"{qe}: predicted wait {shown:.0f} min in {settings.lag_minutes:.0f} min "
                f"> {target / 60:.0f} min target")
    return (False, cool,
            f"不开潮汐窗口预计等候{shown:.0f}分钟，低于目标",
            f"predicted wait without it {shown:.0f} min, well under target")


def _opened_shares(load: HallLoad, decisions: list[Decision]) -> dict[str, float]:
    """The capacity each queue gains from the tide windows opened in this run (their
    ``window_shares``), so a lend is weighed against the hall as it is about to be."""
    extra: dict[str, float] = {}
    for d in decisions:
        if d.action is Action.OPEN:
            pool = [load.queues[q] for q in d.queues if q in load.queues]
            for q, share in _tide_shares(pool, True).items():
                extra[q] = extra.get(q, 0.0) + share
    return extra


SHORTFALL_STEP = 0.25  # servers: the resolution of a queue's forecast shortfall
SHORTFALL_CAP = 6.0  # servers: a shortfall this large or larger counts as this
RELEND_MARGIN = 0.5  # servers: how much more another queue must lack to take a lent window


def shortfall(settings: TideSettings, q: QueueLoad, hour: float, servers: float) -> float:
    """How many servers ``q`` lacks (to ``SHORTFALL_STEP``) for its newcomer's forecast wait
    over the look-ahead to stay within the target, given ``servers`` serving it."""
    enough = _enough(settings, q, hour, servers)
    # the wait falls as servers are added: bisect for the fewest steps that are enough
    lo, hi = 0, math.ceil(SHORTFALL_CAP / SHORTFALL_STEP)  # hi: the cap, taken as enough
    if not enough(hi - 1):  # short of the cap or more, as a queue lent a window mostly is
        return hi * SHORTFALL_STEP
    while lo < hi:
        mid = (lo + hi) // 2
        if enough(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo * SHORTFALL_STEP


def lacks(settings: TideSettings, q: QueueLoad, hour: float, servers: float,
          amount: float) -> bool:
    """Whether ``shortfall(settings, q, hour, servers) >= amount``, by one forecast wait
    (``amount`` a multiple of ``SHORTFALL_STEP``) instead of a bisection."""
    steps = math.ceil(amount / SHORTFALL_STEP)
    if steps <= 0:
        return True
    if steps > math.ceil(SHORTFALL_CAP / SHORTFALL_STEP):
        return False
    return not _enough(settings, q, hour, servers)(steps - 1)


def _enough(settings: TideSettings, q: QueueLoad, hour: float,
            servers: float) -> Callable[[int], bool]:
    """Whether ``steps`` more ``SHORTFALL_STEP`` servers keep ``q``'s forecast wait within
    the target."""
    lag = settings.lag_minutes * 60.0
    target = settings.target_wait_minutes * 60.0
    lam = forecast_rate(settings, [q], hour, lag / 3600.0)

    def enough(steps: int) -> bool:
        return _queue_wait(settings, q.waiting, lam, q.service_seconds,
                           servers + steps * SHORTFALL_STEP, lag) <= target

    return enough


def _lent_share(load: HallLoad, served: tuple[str, ...], queue: str) -> float:
    """The share of a lent window serving ``served`` that goes to ``queue`` (``measure``'s
    split)."""
    base = {q: (load.queues[q].waiting, 0.0, load.queues[q].arrivals_per_hour,
                load.queues[q].service_seconds) for q in served if q in load.queues}
    return window_shares(tuple(base), base).get(queue, 0.0)


def _lent_shares(cfg: HallConfig, load: HallLoad) -> dict[str, float]:
    """The capacity lent windows give each queue they were lent to now."""
    out: dict[str, float] = {}
    for w in cfg.lendable_windows:
        window = load.windows.get(w.number)
        if window is None or window.queues_override is None:
            continue
        if window.status is not WindowStatus.OPEN:
            continue
        own = cfg.window_queues(w.number)
        for q in window.queues_override:
            if q not in own:
                out[q] = out.get(q, 0.0) + _lent_share(load, window.queues_override, q)
    return out


def _lending(cfg: HallConfig, settings: TideSettings, load: HallLoad, memory: Memory,
             exclude: Mapping[int, str], hour: float, open_now: bool,
             opened: Mapping[str, float]) -> tuple[list[Decision], list[Hold]]:
    """Lend each quiet lendable window to an overloaded queue, and take it back.

    Predictive: the window goes to the queue that lacks the most servers (``shortfall``,
    counting the tide windows opened in this run), not to the first one flagged; the last
    lend the toggle budget allows goes only to a queue with people waiting. A lent window
    moves to a queue with people waiting that lacks at least ``RELEND_MARGIN`` servers
    more than the lent queue would without it (one toggle); it is given back when its own
    queue fills, or when the lent queue and every queue it could move to stay comfortable
    without it to the end of the day; after the hall's day, once nobody waits in the lent
    queues."""
    predictive = settings.policy is PolicyName.PREDICTIVE
    out: list[Decision] = []
    holds: list[Hold] = []
    hot_limit = (settings.open_wait_minutes if settings.policy is PolicyName.THRESHOLD
                 else settings.target_wait_minutes) * 60.0
    # After the hall's day (not in the lunch break) a lent window goes back, open or not,
    # once nobody waits in its lent queues: the next day starts with its own queues.
    after_hours = not open_now and outside_day(cfg, hour)
    for w in cfg.lendable_windows:
        window = load.windows.get(w.number)
        if window is None:
            continue
        if window.status is not WindowStatus.OPEN and not (
                after_hours and window.queues_override is not None):
            continue
        own = cfg.window_queues(w.number)
        own_loads = [load.queues[q] for q in own if q in load.queues]
        quiet = all(q.waiting <= settings.close_waiting
                    and q.predicted_wait_seconds <= settings.close_wait_minutes * 60.0
                    for q in own_loads)
        if window.queues_override is None:
            # The last lend the budget allows (no move after it) waits for people waiting.
            last = predictive and memory.of(w.number).toggles + 4 > settings.max_toggles_per_day
            others = [q for q in load.queues.values() if q.queue not in own and (
                q.predicted_wait_seconds >= hot_limit
                or (predictive and _predictive(settings, [q], cfg, hour, False)[0]))
                and (not last or q.waiting > settings.close_waiting)]
            if not quiet or not others:
                continue
            hold = _why_not(cfg, settings, memory, w.number, load.at, Action.LEND,
                            exclude.get(w.number), open_now)
            if hold is not None:
                if hold.code not in ("closed_hours", "resting"):  # routine: not worth a line
                    holds.append(hold)
                continue
            if predictive:
                needs = {q.queue: shortfall(settings, q, hour,
                                            q.servers + opened.get(q.queue, 0.0))
                         for q in others}
                worst = max(others, key=lambda q: (needs[q.queue], q.predicted_wait_seconds))
            else:
                worst = max(others, key=lambda q: q.predicted_wait_seconds)
            out.append(_lend(cfg, w.number, w.name_zh, own, worst, window.clerk))
        else:
            lent = [load.queues[q] for q in window.queues_override
                    if q not in own and q in load.queues]
            eased = all(q.predicted_wait_seconds <= settings.close_wait_minutes * 60.0
                        for q in lent)
            if predictive and lent:
                # Give it back only when the lent queue's forecast is comfortable without it
                # to the end of the day: a return saves no window-hours, and lending again
                # for a later peak would spend two more of the day's toggles.
                eased = eased and _predictive(settings, lent, cfg, hour, True, final=True,
                                              shares={q.queue: 1.0 for q in lent})[1]
                # … and so is every other queue it could be moved to (a move costs one
                # toggle, a return and a new lend two).
                names = {q.queue for q in lent}
                eased = eased and all(
                    _predictive(settings, [q], cfg, hour, True, final=True, shares={})[1]
                    for q in load.queues.values() if q.queue not in own and q.queue not in names)
            own_busy = any(q.waiting > settings.close_waiting for q in own_loads)
            day_done = after_hours and not any(q.waiting for q in lent)
            if w.number in exclude:
                continue
            if (eased or own_busy or day_done) and _may_change(settings, memory, w.number,
                                                               load.at, False):
                why_zh, why_en = (("本窗口业务等候增多", "its own queue is filling") if own_busy
                                  else ("今日办公结束，借出队列已无人等候",
                                        "the hall's day is over and nobody waits in the lent "
                                        "queue") if day_done
                                  else ("借出队列已缓解", "the lent queue has eased"))
                out.append(Decision(
                    Action.RETURN, w.number, own, window.clerk,
                    f"{why_zh}：{w.number}号窗口恢复原业务", f"{why_en}: window {w.number} "
                    "returns to its own queues", end_of_day=after_hours))
                continue
            if not (predictive and lent and quiet and open_now) or not _may_change(
                    settings, memory, w.number, load.at, True):
                continue
            # Move it to a queue that lacks clearly more than the lent one would without it.
            served = served_queues(cfg, window)
            have = max(shortfall(settings, q, hour, q.servers + opened.get(q.queue, 0.0)
                                 - _lent_share(load, served, q.queue)) for q in lent)
            lent_names = {q.queue for q in lent}
            others = [q for q in load.queues.values()
                      if q.queue not in own and q.queue not in lent_names
                      and q.waiting > settings.close_waiting]
            # only a queue lacking RELEND_MARGIN more than ``have`` may take it: the
            # others are ruled out by one forecast wait each, the rest ranked
            takers = [q for q in others if lacks(settings, q, hour, q.servers + opened.get(
                q.queue, 0.0), have + RELEND_MARGIN)]
            needs = {q.queue: shortfall(settings, q, hour,
                                        q.servers + opened.get(q.queue, 0.0))
                     for q in takers}
            best = max(takers, key=lambda q: needs[q.queue], default=None)
            if best is not None:
                out.append(_lend(cfg, w.number, w.name_zh, own, best, window.clerk,
                                 moved=(lent[0].queue, have, needs[best.queue])))
    return out, holds


def _lend(cfg: HallConfig, number: int, name_zh: str, own: tuple[str, ...], to: QueueLoad,
          clerk: str | None, moved: tuple[str, float, float] | None = None) -> Decision:
    """Lend window ``number`` to ``to``; ``moved``: from which lent queue, and the servers
    that queue would lack without it against those ``to`` lacks."""
    qz, qe = _names(cfg, to.queue)
    mins = to.predicted_wait_seconds / 60.0
    if moved is not None:
        fz, fe = _names(cfg, moved[0])
        return Decision(
            Action.LEND, number, (*own, to.queue), clerk,
            f"{qz}缺{moved[2]:.2f}个窗口，多于{fz}（不借也只缺{moved[1]:.2f}个）："
            f"{number}号窗口改为协办{qz}",
            f"{qe} lacks {moved[2]:.2f} windows, more than {fe} would without it "
            f"({moved[1]:.2f}): window {number} moves to {qe}")
    return Decision(
        Action.LEND, number, (*own, to.queue), clerk,
        f"{qz}预计等候{mins:.0f}分钟，{name_zh}空闲：{number}号窗口临时协办{qz}",
        f"{qe}: predicted wait {mins:.0f} min while window {number} is idle: "
        f"lend it to {qe}")


def _names(cfg: HallConfig, letter: str) -> tuple[str, str]:
    q = cfg.queue(letter)
    return (q.name_zh, q.name_en) if q else (letter, letter)
