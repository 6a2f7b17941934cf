"""The parameters the search page, ``/api/search`` and ``/export`` share, read once.

``q, page, per_page, sort, province, level, portal (repeatable), category, since, until,
min_views`` (README, "/api/search").  An empty value is the same as no value (a form submits
its empty fields).  A bad value raises :class:`ParamError`, which names the parameter so that
the answer (a 400) can say which one to fix.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import QueryParams

from crawler.cli.common import iso_date
from pipelines.storage import ExportFilter, SearchQuery, SortOrder
from pipelines.storage.searching import MAX_PER_PAGE, MAX_WINDOW

#: Hits per page when the request does not say.
DEFAULT_PER_PAGE = 20
#: Longest query text accepted (the search language cuts longer queries anyway).
MAX_QUERY_LENGTH = 1000


class ParamError(ValueError):
    """A request parameter the app cannot use; ``parameter`` names it."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter
        self.message = message

    def to_api(self) -> dict[str, str]:
        return {"error": str(self), "parameter": self.parameter}


class ExportFormat(StrEnum):
    """What ``/export`` writes."""

    CSV = "csv"
    JSONL = "jsonl"


@dataclass(frozen=True)
class SearchParams:
    """One search as the request gave it, checked."""

    q: str = ""
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE
    sort: SortOrder = SortOrder.RELEVANCE
    province: str | None = None
    level: str | None = None
    portals: tuple[str, ...] = field(default_factory=tuple)
    category: str | None = None
    since: str | None = None
    until: str | None = None
    min_views: int | None = None
    #: One hit per story (a text reprinted by several portals): the page's default; ``collapse=0``
    #: shows every copy.
    collapse: bool = True

    # --- to the store ------------------------------------------------------------------------
    def filters(self) -> dict[str, Any]:
        return {"portals": list(self.portals), "province": self.province, "level": self.level,
                "category": self.category, "since": self.since, "until": self.until, "min_views": self.min_views}

    def query(self, facets: bool = True) -> SearchQuery:
        return SearchQuery.paged(self.page, self.per_page, text=self.q, sort=self.sort.value, facets=facets,
                                 **self.filters())

    def export_filter(self) -> ExportFilter:
        return ExportFilter(text=self.q, **self.filters())

    # --- back to a URL -----------------------------------------------------------------------
    def items(self) -> list[tuple[str, str]]:
        """The parameters that differ from the defaults, in a stable order (for links)."""
        out: list[tuple[str, str]] = []
        if self.q:
            out.append(("q", self.q))
        for name in ("province", "level", "category", "since", "until"):
            value = getattr(self, name)
            if value:
                out.append((name, value))
        out.extend(("portal", p) for p in self.portals)
        if self.min_views is not None:
            out.append(("min_views", str(self.min_views)))
        if self.sort is not SortOrder.RELEVANCE:
            out.append(("sort", self.sort.value))
        if not self.collapse:
            out.append(("collapse", "0"))
        if self.per_page != DEFAULT_PER_PAGE:
            out.append(("per_page", str(self.per_page)))
        if self.page != 1:
            out.append(("page", str(self.page)))
        return out

    def href(self, path: str = "/", **changes: Any) -> str:
        """``path?…`` of this search with ``changes`` (a change of anything but the page goes
        back to page 1)."""
        if changes and "page" not in changes:
            changes["page"] = 1
        items = (replace(self, **changes) if changes else self).items()
        return path + ("?" + urlencode(items) if items else "")

    def link(self, path: str, **extra: str) -> str:
        """``path`` with this search's query and filters (not its page) and ``extra``."""
        items = [(k, v) for k, v in self.items() if k not in ("page", "per_page")] + list(extra.items())
        return path + ("?" + urlencode(items) if items else "")

    def with_portal(self, portal: str) -> str:
        return self.href(portals=tuple(dict.fromkeys((*self.portals, portal))))

    def without_portal(self, portal: str) -> str:
        return self.href(portals=tuple(p for p in self.portals if p != portal))

    @property
    def has_filters(self) -> bool:
        return any(value not in (None, (), "") for value in self.filters().values())


def _one(params: QueryParams, name: str) -> str | None:
    values = [v for v in params.getlist(name) if v.strip()]
    if len(values) > 1:
        raise ParamError(name, "give it once")
    return values[0].strip() if values else None


def _number(params: QueryParams, name: str, default: int | None, low: int, high: int | None = None) -> int | None:
    raw = _one(params, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ParamError(name, f"expected a whole number, got {raw!r}") from None
    if value < low or (high is not None and value > high):
        bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise ParamError(name, f"must be {bounds}, got {value}")
    return value


def _date(params: QueryParams, name: str) -> str | None:
    raw = _one(params, name)
    if raw is None:
        return None
    try:
        return str(iso_date(raw))
    except argparse.ArgumentTypeError as exc:
        raise ParamError(name, str(exc)) from None


def parse_search(params: QueryParams) -> SearchParams:
    """The search of a request; :class:`ParamError` for the first bad parameter."""
    q = (_one(params, "q") or "")
    if len(q) > MAX_QUERY_LENGTH:
        raise ParamError("q", f"at most {MAX_QUERY_LENGTH} characters")
    raw_sort = _one(params, "sort")
    try:
        sort = SortOrder(raw_sort) if raw_sort else SortOrder.RELEVANCE
    except ValueError:
        raise ParamError("sort", f"use {', '.join(s.value for s in SortOrder)}, not {raw_sort!r}") from None
    per_page = _number(params, "per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE) or DEFAULT_PER_PAGE
    page = _number(params, "page", 1, 1) or 1
    if page * per_page > MAX_WINDOW:
        raise ParamError("page", f"pages end at hit {MAX_WINDOW}: narrow the search, or export it for every match")
    since, until = _date(params, "since"), _date(params, "until")
    portals = tuple(dict.fromkeys(p.strip() for p in params.getlist("portal") if p.strip()))
    collapse = _number(params, "collapse", 1, 0, 1)
    return SearchParams(q=q, page=page, per_page=per_page, sort=sort, province=_one(params, "province"),
                        level=_one(params, "level"), portals=portals, category=_one(params, "category"),
                        since=since, until=until, min_views=_number(params, "min_views", None, 0),
                        collapse=bool(collapse))


def parse_format(params: QueryParams) -> ExportFormat:
    raw = _one(params, "format")
    try:
        return ExportFormat(raw) if raw else ExportFormat.CSV
    except ValueError:
        raise ParamError("format", f"use {' or '.join(ExportFormat)}, not {raw!r}") from None
