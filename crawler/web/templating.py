"""The Jinja2 environment of the web app: autoescaping on, crawled text made safe.

Every ``{{ … }}`` goes through :func:`_finalize` before it is escaped: control characters
and bidirectional overrides become ``?`` (:func:`pipelines.output.terminal_text`, the same
rule as on a terminal), so nothing from a crawled page can hide or reorder what the page
shows.  Only ``snippet_html`` (escaped by :func:`pipelines.output.snippet_html`, with
``<mark>`` around matches) is ever marked safe.
"""

from __future__ import annotations

import functools
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from pipelines.monitoring.report import vn_date, vn_time
from pipelines.output import terminal_text


def _finalize(value: Any) -> Any:
    if isinstance(value, Markup):
        return Markup(terminal_text(str(value), multiline=True))
    if isinstance(value, str):
        return terminal_text(value, multiline=True)
    return value


def number(value: int | None) -> str:
    """1234567 -> "1.234.567" (Vietnamese digit grouping); "–" for none."""
    return "–" if value is None else f"{value:,}".replace(",", ".")


def published(doc: Any) -> str:
    """When an article was published, in Vietnam time, to the precision it is known: a date
    alone for a page that gives only the day (not a made-up 00:00); "" when undated."""
    value = getattr(doc, "published_at", None)
    if getattr(doc, "date_precision", None) == "day":
        return vn_date(value)
    return vn_time(value)


@functools.cache
def environment() -> Environment:
    env = Environment(loader=PackageLoader("crawler.web", "templates"), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, finalize=_finalize)
    env.filters.update(number=number, vn_time=vn_time, vn_date=vn_date, published=published)
    return env


def render(name: str, **context: Any) -> str:
    return environment().get_template(name).render(**context)
