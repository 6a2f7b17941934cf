"""``portalnews report``: a self-contained HTML coverage report with charts.

One file, no scripts, no external resources: the charts are inline SVG drawn here, the
page layout is ``pipelines/monitoring/templates/report.html``.  Three charts, each an ``<svg>`` with a
``data-chart`` attribute and one mark per value (``rect`` with ``data-*`` attributes and a
``<title>`` tooltip):

* ``articles-per-day``: articles published per day (per week or month for long windows)
  for each portal, one row per portal on a shared scale;
* ``freshness-heatmap``: provinces × levels, coloured by the age of the newest article;
* ``failure-rates``: HTTP error rate and extraction-failure rate per field, per portal.

Below them: the alerts, the coverage table worst first, and rollups by province and level.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from html import escape
from importlib import resources
from string import Template
from typing import Any

from pipelines.monitoring.alerts import Alert
from pipelines.monitoring.coverage import CoverageReport, PortalCoverage, Rollup

logger = logging.getLogger(__name__)

VN_TZ = timezone(timedelta(hours=7))
LEVELS = ("province", "district", "commune", "department")
RATE_SERIES: tuple[tuple[str, str, str], ...] = (
    ("http", "HTTP errors", "#c62828"),
    ("published_at", "no date", "#8e24aa"),
    ("body", "no body", "#1565c0"),
    ("title", "no title", "#00838f"),
    ("view_count", "no view count", "#9e9e9e"),
)
STATUS_COLOURS = {"ok": "#2e7d32", "stale": "#ef6c00", "quiet": "#ef6c00", "parse errors": "#8e24aa",
                  "unreachable": "#c62828", "failing": "#c62828", "never crawled": "#c62828", "partial": "#b45309",
                  "running": "#b45309"}
MAX_ROWS = 80


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


# --- charts ---------------------------------------------------------------------------------------------
def _svg_open(chart: str, width: int, height: int, label: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" data-chart="{chart}" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}">')


def chart_articles_per_day(data: ReportData, portals: list[PortalCoverage]) -> tuple[str, str]:
    unit = bucket_unit(data.since, data.until)
    cols = buckets(data.since, data.until, unit)
    index = {b: i for i, b in enumerate(cols)}
    rows = portals[:MAX_ROWS]
    counts: dict[str, list[int]] = {}
    for p in rows:
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
    plot_w = 1160 - left - right
    height = top + row_h * max(1, len(rows)) + 34
    step = plot_w / max(1, len(cols))
    bar_w = max(0.6, step * 0.82)
    parts = [_svg_open("articles-per-day", 1160, height, f"articles per {unit} per portal")]
    for r, p in enumerate(rows):
        y0 = top + r * row_h
        base = y0 + row_h - 6
        if r % 2 == 0:
            parts.append(f'<rect x="0" y="{y0}" width="1160" height="{row_h}" fill="#f8fafc"/>')
        parts.append(f'<text x="{left - 8}" y="{base - 6}" text-anchor="end" font-size="12" fill="#111827">'
                     f'{escape(p.portal_id)}</text>')
        parts.append(f'<line x1="{left}" y1="{base}" x2="{left + plot_w}" y2="{base}" stroke="#cbd5e1"/>')
        series = counts[p.portal_id]
        for i, n in enumerate(series):
            if not n:
                continue
            h = max(1.5, (row_h - 9) * n / peak)
            x = left + i * step
            parts.append(f'<rect class="bar" data-portal="{escape(p.portal_id)}" data-bucket="{_label(cols[i], unit)}" '
                         f'data-count="{n}" x="{x:.2f}" y="{base - h:.2f}" width="{bar_w:.2f}" height="{h:.2f}" '
                         f'fill="#1d6fa5"><title>{escape(p.portal_id)} {_label(cols[i], unit)}: {n}</title></rect>')
        parts.append(f'<text x="{left + plot_w + 8}" y="{base - 6}" font-size="11" fill="#6b7280">'
                     f'{sum(series)}</text>')
    axis_y = top + row_h * max(1, len(rows)) + 4
    ticks = min(8, len(cols))
    for t in range(ticks):
        i = round(t * (len(cols) - 1) / max(1, ticks - 1))
        x = left + i * step + (step if t == ticks - 1 else 0)
        anchor = "start" if t == 0 else "end" if t == ticks - 1 else "middle"
        parts.append(f'<text x="{x:.1f}" y="{axis_y + 14}" font-size="10.5" fill="#6b7280" '
                     f'text-anchor="{anchor}">{_label(cols[i], unit)}</text>')
    parts.append(f'<text x="{left + plot_w + 8}" y="{top - 3}" font-size="10.5" fill="#6b7280">total</text>')
    if not rows:
        parts.append(f'<text x="{left}" y="{top + 18}" font-size="13" fill="#6b7280">no portal</text>')
    parts.append("</svg>")
    total = sum(sum(s) for s in counts.values())
    note = (f"{data.since.isoformat()} to {data.until.isoformat()} (publication dates, +07:00), one bar per {unit}; "
            f"{total} article(s) in the window; tallest bar = {peak}.")
    if len(portals) > MAX_ROWS:
        note += f" The {MAX_ROWS} worst portals of {len(portals)} are shown."
    return "".join(parts), note


def chart_freshness_heatmap(report: CoverageReport) -> str:
    provinces = sorted({p.province or "?" for p in report.portals})
    levels = [lv for lv in LEVELS if any(p.level == lv for p in report.portals)]
    levels += sorted({p.level or "?" for p in report.portals} - set(levels))
    cell_w, cell_h, left, top = 120, 30, 190, 30
    width = max(560, left + cell_w * len(levels) + 20)
    height = top + cell_h * max(1, len(provinces)) + 56
    parts = [_svg_open("freshness-heatmap", width, height, "freshness of the newest article by province and level")]
    for j, level in enumerate(levels):
        parts.append(f'<text x="{left + j * cell_w + cell_w / 2}" y="{top - 10}" text-anchor="middle" '
                     f'font-size="12" font-weight="600">{escape(level)}</text>')
    for i, province in enumerate(provinces):
        y = top + i * cell_h
        parts.append(f'<text x="{left - 8}" y="{y + cell_h / 2 + 4}" text-anchor="end" font-size="12">'
                     f'{escape(province)}</text>')
        for j, level in enumerate(levels):
            members = [p for p in report.portals if (p.province or "?") == province and (p.level or "?") == level]
            if not members:
                parts.append(f'<rect x="{left + j * cell_w + 1}" y="{y + 1}" width="{cell_w - 2}" height="{cell_h - 2}" '
                             'fill="#ffffff" stroke="#eef2f7"/>')
                continue
            ages = [p.age_days for p in members if p.age_days is not None]
            age = min(ages) if ages else None
            names = ", ".join(p.portal_id for p in members)
            text = f"{age} d" if age is not None else "no date"
            parts.append(f'<rect class="cell" data-province="{escape(province)}" data-level="{escape(level)}" '
                         f'data-age="{"" if age is None else age}" x="{left + j * cell_w + 1}" y="{y + 1}" '
                         f'width="{cell_w - 2}" height="{cell_h - 2}" rx="3" fill="{freshness_colour(age)}">'
                         f'<title>{escape(province)} · {escape(level)}: {escape(text)} ({escape(names)})</title></rect>')
            parts.append(f'<text x="{left + j * cell_w + cell_w / 2}" y="{y + cell_h / 2 + 4}" text-anchor="middle" '
                         f'font-size="11.5" fill="#111827">{escape(text)}</text>')
    legend_y = top + cell_h * max(1, len(provinces)) + 18
    for k, (label, age) in enumerate((("≤ 7 d", 1), ("≤ 30 d", 20), ("≤ 90 d", 60), ("≤ 180 d", 120),
                                      ("> 180 d", 999), ("no date", None))):
        x = left + k * 82
        parts.append(f'<rect x="{x}" y="{legend_y}" width="14" height="14" fill="{freshness_colour(age)}"/>'
                     f'<text x="{x + 18}" y="{legend_y + 11}" font-size="11">{label}</text>')
    if not provinces:
        parts.append(f'<text x="{left}" y="{top + 18}" font-size="13" fill="#6b7280">no portal</text>')
    parts.append("</svg>")
    return "".join(parts)


def chart_failure_rates(portals: list[PortalCoverage]) -> str:
    rows = portals[:MAX_ROWS]
    series = [s for s in RATE_SERIES if s[0] == "http" or any(s[0] in p.extraction_failure_rates for p in rows)]
    bar_h, gap, left, right, top = 7, 8, 190, 60, 30
    group_h = bar_h * len(series) + gap
    plot_w = 1160 - left - right
    height = top + group_h * max(1, len(rows)) + 30
    parts = [_svg_open("failure-rates", 1160, height, "error and extraction-failure rates per portal")]
    for k, (_key, label, colour) in enumerate(series):
        parts.append(f'<rect x="{left + k * 130}" y="6" width="12" height="12" fill="{colour}"/>'
                     f'<text x="{left + k * 130 + 16}" y="16" font-size="11.5">{escape(label)}</text>')
    for pct in (0, 25, 50, 75, 100):
        x = left + plot_w * pct / 100
        parts.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{top + group_h * max(1, len(rows))}" '
                     f'stroke="#e5e7eb"/><text x="{x:.1f}" y="{height - 8}" font-size="10.5" fill="#6b7280" '
                     f'text-anchor="middle">{pct}%</text>')
    for r, p in enumerate(rows):
        y0 = top + r * group_h
        parts.append(f'<text x="{left - 8}" y="{y0 + group_h / 2 + 2}" text-anchor="end" font-size="12">'
                     f'{escape(p.portal_id)}</text>')
        for k, (key, label, colour) in enumerate(series):
            rate = p.error_rate if key == "http" else p.extraction_failure_rates.get(key, 0.0)
            w = max(0.0, min(1.0, rate)) * plot_w
            y = y0 + k * bar_h
            parts.append(f'<rect class="bar" data-portal="{escape(p.portal_id)}" data-series="{key}" '
                         f'data-rate="{rate:.4f}" x="{left}" y="{y}" width="{max(w, 0.0):.2f}" height="{bar_h - 1}" '
                         f'fill="{colour}"><title>{escape(p.portal_id)}: {escape(label)} {rate:.1%}</title></rect>')
            if rate > 0:
                parts.append(f'<text x="{left + w + 4:.1f}" y="{y + bar_h - 1}" font-size="9" fill="#374151">'
                             f'{rate:.0%}</text>')
    parts.append("</svg>")
    return "".join(parts)


# --- tables ---------------------------------------------------------------------------------------------
def _badge(status: str) -> str:
    return f'<span class="badge s-{status.replace(" ", "-")}">{escape(status)}</span>'


def _pairs(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(values.items())) or "–"


def coverage_table(portals: list[PortalCoverage]) -> str:
    head = ("<table><thead><tr><th>status</th><th>portal</th><th>province · level</th>"
            "<th class='num'>health</th><th class='num'>articles</th><th class='num'>new 24 h · 7 d · 30 d</th>"
            "<th>newest (age)</th><th>last crawl (UTC)</th><th class='num'>pages</th><th>HTTP errors</th>"
            "<th>not found</th><th class='num'>robots</th><th>problems</th></tr></thead><tbody>")
    body = []
    for p in portals:
        missing = {k: f"{v}/{p.article_pages}" for k, v in p.missing_fields.items()}
        newest = "–" if not p.newest_article else f"{p.newest_article[:10]} ({p.age_days} d)"
        crawl = "never" if not p.last_crawl_started else (
            f"{p.last_outcome} <span class='sub'>{escape(p.last_crawl_started[:16].replace('T', ' '))}</span>")
        body.append(
            f'<tr data-portal="{escape(p.portal_id)}"><td>{_badge(p.status)}</td>'
            f'<td class="id"><b>{escape(p.portal_id)}</b><span class="sub">{escape(p.name or "")}</span></td>'
            f'<td>{escape(p.province or "–")}<span class="sub">{escape(p.level or "–")}</span></td>'
            f'<td class="num">{p.health}</td><td class="num">{p.articles}</td>'
            f'<td class="num">{p.new_24h} · {p.new_7d} · {p.new_30d}</td><td class="nw">{escape(newest)}</td>'
            f'<td class="nw">{crawl}</td><td class="num">{p.pages_fetched}</td>'
            f'<td>{escape(_pairs(p.http_errors))}</td><td>{escape(_pairs(missing))}</td>'
            f'<td class="num">{p.robots_blocked}</td><td class="problems">{escape("; ".join(p.problems) or "–")}</td></tr>')
    return head + "".join(body) + "</tbody></table>"


def rollup_table(rows: list[Rollup], what: str) -> str:
    head = (f"<table><thead><tr><th>{escape(what)}</th><th class='num'>portals</th><th class='num'>health</th>"
            "<th class='num'>articles</th><th class='num'>new 7 d</th><th class='num'>age (d)</th>"
            "<th>statuses</th><th>worst</th></tr></thead><tbody>")
    body = [f"<tr><td>{escape(r.key)}</td><td class='num'>{r.portals}</td><td class='num'>{r.health}</td>"
            f"<td class='num'>{r.articles}</td><td class='num'>{r.new_7d}</td>"
            f"<td class='num'>{'–' if r.age_days is None else r.age_days}</td>"
            f"<td>{escape(_pairs(r.statuses))}</td><td>{escape(r.worst_portal or '–')}</td></tr>" for r in rows]
    return head + "".join(body) + "</tbody></table>"


def alerts_html(alerts: list[Alert]) -> str:
    if not alerts:
        return '<p class="note">No alert: every portal passes the rules.</p>'
    items = []
    for a in alerts:
        findings = "; ".join(escape(f.message) for f in a.findings)
        items.append(f'<li data-portal="{escape(a.portal_id)}"><span class="sev-{a.severity}">{escape(a.severity)}</span> '
                     f'<b>{escape(a.portal_id)}</b>: {findings}</li>')
    return '<ul class="alerts">' + "".join(items) + "</ul>"


def summary_cards(report: CoverageReport, alerts: list[Alert]) -> str:
    portals = report.portals
    counts: dict[str, int] = {}
    for p in portals:
        counts[p.status] = counts.get(p.status, 0) + 1
    failing = sum(counts.get(s, 0) for s in ("unreachable", "failing", "never crawled"))
    cards = [
        ("", len(portals), "portals"),
        ("ok", counts.get("ok", 0), "healthy"),
        ("bad", failing, "unreachable / failing"),
        ("parse", counts.get("parse errors", 0), "failing to parse"),
        ("warn", counts.get("stale", 0) + counts.get("quiet", 0), "stale / quiet"),
        ("bad" if alerts else "ok", len(alerts), "portals with alerts"),
        ("", sum(p.articles for p in portals), "articles"),
        ("", sum(p.new_7d for p in portals), "published in 7 days"),
    ]
    return "".join(f'<div class="card {cls}"><b>{value}</b><span>{escape(label)}</span></div>'
                   for cls, value, label in cards)


def render_report(data: ReportData, title: str = "portalnews coverage report") -> str:
    """The whole HTML document."""
    template = Template(resources.files("pipelines.monitoring").joinpath("templates/report.html").read_text("utf-8"))
    portals = data.coverage.portals
    daily, daily_note = chart_articles_per_day(data, portals)
    subtitle = f"generated {data.coverage.generated_at} (UTC)" + (f" from {data.store}" if data.store else "")
    return template.substitute(
        title=escape(title), subtitle=escape(subtitle), cards=summary_cards(data.coverage, data.alerts),
        alerts=alerts_html(data.alerts), bucket=bucket_unit(data.since, data.until), daily_note=escape(daily_note),
        chart_daily=daily, chart_heatmap=chart_freshness_heatmap(data.coverage),
        chart_rates=chart_failure_rates(portals), table=coverage_table(portals),
        by_province=rollup_table(data.coverage.by_province, "province"),
        by_level=rollup_table(data.coverage.by_level, "level"),
    )


def report_window(days: int | None = 90, since: str | None = None, now: datetime | None = None) -> tuple[date, date]:
    """The chart window: ``since`` (a date) or the last ``days`` days, up to today in +07:00."""
    until = (now or datetime.now(UTC)).astimezone(VN_TZ).date()
    start = date.fromisoformat(since[:10]) if since else until - timedelta(days=max(1, days or 90) - 1)
    return min(start, until), until
