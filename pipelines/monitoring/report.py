"""``portalnews report``: a self-contained HTML coverage report with charts.

One file, no scripts, no external resources.  This module computes what the page shows
(chart geometry, summary counts, times in Vietnam time); the markup is the Jinja2 template
``pipelines/monitoring/templates/report.html``, rendered with autoescaping on, so every
string that comes from crawled pages, run records or the registry is escaped (nothing here
builds HTML).  Three charts, each an ``<svg>`` with a ``data-chart`` attribute and one mark
per value (``rect`` with ``data-*`` attributes and a ``<title>`` tooltip):

* ``articles-per-day``: articles published per day (per week or month for long windows)
  for each portal, one row per portal on a shared scale;
* ``freshness-heatmap``: provinces × levels, coloured by the age of the newest article;
* ``failure-rates``: HTTP error rate and extraction-failure rate per field, per portal.

Below them: the alerts, the coverage table worst first, and rollups by province and level.
Every time on the page is Vietnam time (UTC+07:00), and the page says so.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from pipelines.model.kinds import RunOutcome
from pipelines.monitoring.alerts import Alert
from pipelines.monitoring.coverage import CoverageReport, PortalCoverage, parse_time
from pipelines.normalize.dates import VN_TZ

logger = logging.getLogger(__name__)

LEVELS = ("province", "district", "commune", "department")
RATE_SERIES: tuple[tuple[str, str, str], ...] = (
    ("http", "HTTP errors", "#c62828"),
    ("published_at", "no date", "#8e24aa"),
    ("body", "no body", "#1565c0"),
    ("title", "no title", "#00838f"),
    ("view_count", "no view count", "#9e9e9e"),
)
MAX_ROWS = 80
WIDTH = 1160
#: Outcomes of a last crawl that did not cover the whole portal.
PARTIAL_OUTCOMES = (RunOutcome.PARTIAL, RunOutcome.INTERRUPTED)
TIME_NOTE = "All times are Vietnam time (UTC+07:00)."


@dataclass
class ReportData:
    """Everything the report shows."""

    coverage: CoverageReport
    alerts: list[Alert]
    per_day: dict[str, dict[str, int]]  # portal -> {YYYY-MM-DD: n}
    since: date
    until: date
    store: str = ""


def freshness_colour(age: int | None) -> str:
    if age is None:
        return "#c7c7c7"
    for limit, colour in ((7, "#1a9850"), (30, "#91cf60"), (90, "#fee08b"), (180, "#fc8d59")):
        if age <= limit:
            return colour
    return "#d73027"


def vn_time(value: str | None) -> str:
    """An ISO 8601 instant as ``YYYY-MM-DD HH:MM`` in Vietnam time; "" when absent or unreadable."""
    dt = parse_time(value)
    return dt.astimezone(VN_TZ).strftime("%Y-%m-%d %H:%M") if dt else ""


def vn_date(value: str | None) -> str:
    """The Vietnam-time calendar date of an ISO 8601 instant (a bare date stays as it is)."""
    dt = parse_time(value)
    return dt.astimezone(VN_TZ).date().isoformat() if dt else ""


def pairs(values: dict[str, Any]) -> str:
    """``{"404": 2, "500": 1}`` -> ``"404: 2, 500: 1"`` (plain text; the template escapes it)."""
    return ", ".join(f"{k}: {v}" for k, v in sorted(values.items())) or "–"


def not_found(p: PortalCoverage) -> dict[str, str]:
    """Fields not found on the last crawl's article pages, as ``n/pages`` per field."""
    return {name: f"{n}/{p.article_pages}" for name, n in p.missing_fields.items()}


# --- buckets --------------------------------------------------------------------------------------------
def bucket_unit(since: date, until: date) -> str:
    span = (until - since).days + 1
    return "day" if span <= 120 else "week" if span <= 3 * 366 else "month"


def bucket_of(day: date, unit: str) -> date:
    if unit == "week":
        return day - timedelta(days=day.weekday())
    if unit == "month":
        return day.replace(day=1)
    return day


def buckets(since: date, until: date, unit: str) -> list[date]:
    out: list[date] = []
    current = bucket_of(since, unit)
    while current <= until:
        out.append(current)
        if unit == "day":
            current += timedelta(days=1)
        elif unit == "week":
            current += timedelta(days=7)
        else:
            current = (current.replace(day=28) + timedelta(days=4)).replace(day=1)
    return out


def _label(d: date, unit: str) -> str:
    return d.strftime("%Y-%m") if unit == "month" else d.isoformat()


# --- chart models (geometry only; the template draws them) ----------------------------------------------
@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str  # bucket of a daily bar, field of a rate bar
    value: float


@dataclass
class Row:
    portal: str
    y: float  # top of the row
    label_y: float
    bars: list[Bar] = field(default_factory=list)
    total: int = 0
    base: float = 0.0


@dataclass
class Tick:
    x: float
    label: str
    anchor: str


@dataclass
class DailyChart:
    unit: str
    height: int
    left: int
    plot_w: int
    row_h: int
    top: int
    rows: list[Row]
    ticks: list[Tick]
    axis_y: float
    note: str


def chart_articles_per_day(data: ReportData, portals: list[PortalCoverage]) -> DailyChart:
    unit = bucket_unit(data.since, data.until)
    cols = buckets(data.since, data.until, unit)
    index = {b: i for i, b in enumerate(cols)}
    shown = portals[:MAX_ROWS]
    counts: dict[str, list[int]] = {}
    for p in shown:
        series = [0] * len(cols)
        for day, n in data.per_day.get(p.portal_id, {}).items():
            try:
                d = date.fromisoformat(day[:10])
            except ValueError:
                continue
            if data.since <= d <= data.until:
                series[index[bucket_of(d, unit)]] += int(n)
        counts[p.portal_id] = series
    peak = max([max(s) for s in counts.values() if s] + [1])
    left, right, row_h, top = 190, 70, 30, 16
    plot_w = WIDTH - left - right
    height = top + row_h * max(1, len(shown)) + 34
    step = plot_w / max(1, len(cols))
    bar_w = round(max(0.6, step * 0.82), 2)
    rows = []
    for r, p in enumerate(shown):
        y0 = top + r * row_h
        base = y0 + row_h - 6
        row = Row(portal=p.portal_id, y=y0, label_y=base - 6, base=base, total=sum(counts[p.portal_id]))
        for i, n in enumerate(counts[p.portal_id]):
            if n:
                h = max(1.5, (row_h - 9) * n / peak)
                row.bars.append(Bar(x=round(left + i * step, 2), y=round(base - h, 2), width=bar_w, height=round(h, 2),
                                    label=_label(cols[i], unit), value=n))
        rows.append(row)
    axis_y = top + row_h * max(1, len(shown)) + 4
    n_ticks = min(8, len(cols))
    ticks = []
    for t in range(n_ticks):
        i = round(t * (len(cols) - 1) / max(1, n_ticks - 1))
        x = left + i * step + (step if t == n_ticks - 1 else 0)
        ticks.append(Tick(round(x, 1), _label(cols[i], unit),
                          "start" if t == 0 else "end" if t == n_ticks - 1 else "middle"))
    total = sum(sum(s) for s in counts.values())
    note = (f"{data.since.isoformat()} to {data.until.isoformat()} (publication dates, +07:00), one bar per {unit}; "
            f"{total} article(s) in the window; tallest bar = {peak}.")
    if len(portals) > MAX_ROWS:
        note += f" The {MAX_ROWS} worst portals of {len(portals)} are shown."
    return DailyChart(unit=unit, height=height, left=left, plot_w=plot_w, row_h=row_h, top=top, rows=rows,
                      ticks=ticks, axis_y=axis_y, note=note)


@dataclass
class Cell:
    x: int
    y: int
    province: str
    level: str
    age: int | None = None
    colour: str = ""
    text: str = ""
    names: str = ""
    empty: bool = True


@dataclass
class Heatmap:
    width: int
    height: int
    left: int
    top: int
    cell_w: int
    cell_h: int
    levels: list[str]
    provinces: list[str]
    cells: list[Cell]
    legend: list[tuple[str, str]]  # (label, colour)
    legend_y: int


def chart_freshness_heatmap(report: CoverageReport) -> Heatmap:
    provinces = sorted({p.province or "?" for p in report.portals})
    levels = [lv for lv in LEVELS if any(p.level == lv for p in report.portals)]
    levels += sorted({p.level or "?" for p in report.portals} - set(levels))
    cell_w, cell_h, left, top = 120, 30, 190, 30
    cells = []
    for i, province in enumerate(provinces):
        for j, level in enumerate(levels):
            cell = Cell(x=left + j * cell_w, y=top + i * cell_h, province=province, level=level)
            members = [p for p in report.portals if (p.province or "?") == province and (p.level or "?") == level]
            if members:
                ages = [p.age_days for p in members if p.age_days is not None]
                cell.age = min(ages) if ages else None
                cell.colour = freshness_colour(cell.age)
                cell.text = f"{cell.age} d" if cell.age is not None else "no date"
                cell.names = ", ".join(p.portal_id for p in members)
                cell.empty = False
            cells.append(cell)
    legend = [(label, freshness_colour(age)) for label, age in (
        ("≤ 7 d", 1), ("≤ 30 d", 20), ("≤ 90 d", 60), ("≤ 180 d", 120), ("> 180 d", 999), ("no date", None))]
    rows_h = cell_h * max(1, len(provinces))
    return Heatmap(width=max(left + 82 * len(legend) + 20, left + cell_w * len(levels) + 20), height=top + rows_h + 56,
                   left=left, top=top, cell_w=cell_w, cell_h=cell_h, levels=levels, provinces=provinces, cells=cells,
                   legend=legend, legend_y=top + rows_h + 18)


@dataclass
class RatesChart:
    height: int
    left: int
    top: int
    plot_w: int
    group_h: int
    series: list[tuple[str, str, str]]  # (key, label, colour)
    rows: list[Row]
    grid: list[tuple[float, int]]  # (x, percent)


def chart_failure_rates(portals: list[PortalCoverage]) -> RatesChart:
    shown = portals[:MAX_ROWS]
    series = [s for s in RATE_SERIES if s[0] == "http" or any(s[0] in p.extraction_failure_rates for p in shown)]
    bar_h, gap, left, right, top = 7, 8, 190, 60, 30
    group_h = bar_h * len(series) + gap
    plot_w = WIDTH - left - right
    rows = []
    for r, p in enumerate(shown):
        y0 = top + r * group_h
        row = Row(portal=p.portal_id, y=y0, label_y=y0 + group_h / 2 + 2)
        for k, (key, _label_text, _colour) in enumerate(series):
            rate = p.error_rate if key == "http" else p.extraction_failure_rates.get(key, 0.0)
            row.bars.append(Bar(x=left, y=y0 + k * bar_h, width=round(max(0.0, min(1.0, rate)) * plot_w, 2),
                                height=bar_h - 1, label=key, value=rate))
        rows.append(row)
    return RatesChart(height=top + group_h * max(1, len(shown)) + 30, left=left, top=top, plot_w=plot_w,
                      group_h=group_h, series=series, rows=rows,
                      grid=[(round(left + plot_w * pct / 100, 1), pct) for pct in (0, 25, 50, 75, 100)])


# --- summary --------------------------------------------------------------------------------------------
@dataclass
class Card:
    css: str
    value: int
    label: str


def summary_cards(report: CoverageReport, alerts: list[Alert]) -> list[Card]:
    portals = report.portals
    counts: dict[str, int] = {}
    for p in portals:
        counts[p.status] = counts.get(p.status, 0) + 1
    failing = sum(counts.get(s, 0) for s in ("unreachable", "failing", "never crawled"))
    partial = sum(1 for p in portals if p.last_outcome in PARTIAL_OUTCOMES or p.status == "partial")
    return [
        Card("", len(portals), "portals"),
        Card("ok", counts.get("ok", 0), "healthy"),
        Card("bad", failing, "unreachable / failing"),
        Card("warn" if partial else "ok", partial, "last crawl partial"),
        Card("parse", counts.get("parse errors", 0), "failing to parse"),
        Card("warn", counts.get("stale", 0) + counts.get("quiet", 0), "stale / quiet"),
        Card("bad" if alerts else "ok", len(alerts), "portals with alerts"),
        Card("", sum(p.articles for p in portals), "articles"),
        Card("", sum(p.new_7d for p in portals), "published in 7 days"),
    ]


@functools.cache
def environment() -> Environment:
    """The Jinja2 environment of the report: autoescaping on for every template."""
    env = Environment(loader=PackageLoader("pipelines.monitoring", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(vn_time=vn_time, vn_date=vn_date, pairs=pairs, not_found=not_found)
    return env


def render_report(data: ReportData, title: str = "portalnews coverage report") -> str:
    """The whole HTML document."""
    portals = data.coverage.portals
    generated = vn_time(data.coverage.generated_at) or data.coverage.generated_at
    return environment().get_template("report.html").render(
        title=title, generated=generated, store=data.store, time_note=TIME_NOTE,
        cards=summary_cards(data.coverage, data.alerts), alerts=data.alerts,
        daily=chart_articles_per_day(data, portals), heatmap=chart_freshness_heatmap(data.coverage),
        rates=chart_failure_rates(portals), portals=portals, by_province=data.coverage.by_province,
        by_level=data.coverage.by_level, width=WIDTH)


def report_window(days: int | None = 90, since: str | None = None, now: datetime | None = None) -> tuple[date, date]:
    """The chart window: ``since`` (a date) or the last ``days`` days, up to today in +07:00."""
    until = (now or datetime.now(UTC)).astimezone(VN_TZ).date()
    start = date.fromisoformat(since[:10]) if since else until - timedelta(days=max(1, days or 90) - 1)
    return min(start, until), until

