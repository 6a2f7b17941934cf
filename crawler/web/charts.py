"""The geometry of the app's charts, drawn by the templates as inline SVG (no script, no CDN).

* :func:`month_histogram`: matches per month of publication (the ``month`` facet), one bar per
  month from the first to the last, empty months included; each bar links to the search
  narrowed to its month;
* :func:`views_chart`: an article's view count over time, a line through its observations on
  a time axis.

Only numbers and labels are computed here; the markup, and its escaping, is the templates'.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pipelines.storage.base import FacetValue, Observation, parse_instant

WIDTH = 720
HEIGHT = 160
LEFT = 48
BOTTOM = 22
TOP = 8


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    month: str  # YYYY-MM
    count: int
    since: str  # first day of the month
    until: str  # last day of the month


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass
class Histogram:
    bars: list[Bar]
    ticks: list[Tick]
    peak: int
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    base: float = HEIGHT - BOTTOM
    total: int = 0


def _months(first: str, last: str) -> list[str]:
    y, m = int(first[:4]), int(first[5:7])
    end = (int(last[:4]), int(last[5:7]))
    out = []
    while (y, m) <= end:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def month_histogram(months: Sequence[FacetValue], max_bars: int = 240) -> Histogram | None:
    """Bars for the ``month`` facet (None when no match is dated).  At most ``max_bars`` months,
    the latest ones."""
    counts = {v.value: v.count for v in months if len(v.value) == 7 and v.value[4] == "-"}
    if not counts:
        return None
    names = _months(min(counts), max(counts))[-max_bars:]
    peak = max(counts.get(n, 0) for n in names) or 1
    plot_w, plot_h = WIDTH - LEFT - 28, HEIGHT - BOTTOM - TOP  # room on the right for the last label
    step = plot_w / len(names)
    bars, ticks = [], []
    every = max(1, len(names) // 8)
    for i, name in enumerate(names):
        n = counts.get(name, 0)
        h = round(plot_h * n / peak, 1)
        slot = LEFT + i * step
        width = min(48.0, max(1.0, step * 0.85))
        y, m = int(name[:4]), int(name[5:7])
        last_day = calendar.monthrange(y, m)[1]
        bars.append(Bar(x=round(slot + (step - width) / 2, 1), y=round(HEIGHT - BOTTOM - h, 1), width=round(width, 1),
                        height=h, month=name, count=n, since=f"{name}-01", until=f"{name}-{last_day:02d}"))
        if i % every == 0:
            ticks.append(Tick(x=round(slot + step / 2, 1), label=name))
    return Histogram(bars=bars, ticks=ticks, peak=peak, total=sum(counts.get(n, 0) for n in names))


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    t: str
    views: int


@dataclass
class LineChart:
    points: list[Point]
    low: int
    high: int
    first: str
    last: str
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    base: float = HEIGHT - BOTTOM
    top: int = TOP
    ticks: list[Tick] = field(default_factory=list)

    @property
    def polyline(self) -> str:
        return " ".join(f"{p.x},{p.y}" for p in self.points)


def views_chart(history: Sequence[Observation]) -> LineChart | None:
    """The view-count line of an article (None without observations).  One observation is
    one point in the middle; the vertical axis starts at 0."""
    timed: list[tuple[datetime, Observation]] = []
    for o in history:
        instant = parse_instant(o.t)
        if instant is not None:
            timed.append((instant, o))
    if not timed:
        return None
    timed.sort(key=lambda pair: pair[0])
    t0, t1 = timed[0][0], timed[-1][0]
    span = (t1 - t0).total_seconds()
    high = max(o.views for _, o in timed) or 1
    plot_w, plot_h = WIDTH - LEFT - 12, HEIGHT - BOTTOM - TOP
    points = []
    for instant, o in timed:
        frac = (instant - t0).total_seconds() / span if span else 0.5
        points.append(Point(x=round(LEFT + 4 + frac * plot_w, 1), y=round(HEIGHT - BOTTOM - plot_h * o.views / high, 1),
                            t=o.t, views=o.views))
    return LineChart(points=points, low=0, high=high, first=timed[0][1].t, last=timed[-1][1].t)
