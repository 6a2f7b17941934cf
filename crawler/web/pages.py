"""The HTML pages: ``/`` (search), ``/article/{id}`` and ``/coverage``.

Each handler reads its parameters, asks the store (on the store's threads, see
:mod:`crawler.web.storeholder`) and renders a template of ``crawler/web/templates`` with
autoescaping on.  Parameter errors and an unusable store are raised and answered by the
app's error pages (:mod:`crawler.web.app`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse

from crawler.web.charts import month_histogram, views_chart
from crawler.web.params import DEFAULT_PER_PAGE, ExportFormat, SearchParams, parse_search
from crawler.web.storeholder import StoreHolder
from crawler.web.templating import render
from pipelines.monitoring import check_store
from pipelines.monitoring.report import summary_cards
from pipelines.storage import Document, Facet, SearchResult, SortOrder, Store
from pipelines.storage.searching import MAX_WINDOW
from pipelines.storage.story_views import CollapsedHit, collapsed_search

DOC_ID = re.compile(r"[0-9a-f]{40}")
#: Facets listed beside the results, with their headings, and how many values each shows.
SIDE_FACETS = ((Facet.PROVINCE, "Province"), (Facet.LEVEL, "Level"), (Facet.PORTAL, "Portal"),
               (Facet.CATEGORY, "Category"))
FACET_SHOWN = 12


@dataclass(frozen=True)
class PageLink:
    number: int
    href: str
    current: bool


@dataclass(frozen=True)
class ActiveFilter:
    label: str
    value: str
    remove: str  # the search without it


def _holder(request: Request) -> StoreHolder:
    holder: StoreHolder = request.app.state.holder
    return holder


def page_links(params: SearchParams, result: SearchResult, around: int = 3) -> list[PageLink]:
    """Links to the first, last and nearby pages (none past the deepest reachable page)."""
    last = min(result.pages, max(1, MAX_WINDOW // params.per_page))
    numbers = sorted({1, last, *range(max(1, params.page - around), min(last, params.page + around) + 1)})
    return [PageLink(n, params.href(page=n), n == params.page) for n in numbers]


def active_filters(params: SearchParams) -> list[ActiveFilter]:
    out = [ActiveFilter("portal", p, params.without_portal(p)) for p in params.portals]
    for name in ("province", "level", "category", "since", "until"):
        value = getattr(params, name)
        if value:
            unset: dict[str, Any] = {name: None}
            out.append(ActiveFilter(name, value, params.href("/", **unset)))
    if params.min_views is not None:
        out.append(ActiveFilter("min views", str(params.min_views), params.href(min_views=None)))
    return out


def facet_link(params: SearchParams, facet: Facet, value: str) -> str:
    if facet is Facet.PORTAL:
        return params.with_portal(value)
    return params.href(**{facet.value: value})


async def search_page(request: Request) -> HTMLResponse:
    params = parse_search(request.query_params)

    def find(store: Store) -> tuple[SearchResult, dict[str, CollapsedHit]]:
        if not params.collapse:
            return store.search(params.query(facets=True)), {}
        result, collapsed = collapsed_search(store, params.query(facets=True))
        return result, {c.hit.document.id: c for c in collapsed if c.copies}

    result, stories = await _holder(request).run(find)
    facets = [(facet, heading, result.facets.get(facet.value, [])[:FACET_SHOWN]) for facet, heading in SIDE_FACETS]
    first = (result.page - 1) * result.per_page + 1
    html = render(
        "search.html", params=params, result=result, facets=facets, facet_link=facet_link,
        histogram=month_histogram(result.facets.get(Facet.MONTH.value, [])), pages=page_links(params, result),
        filters=active_filters(params), sorts=[(s.value, params.href(sort=s)) for s in SortOrder],
        first=first, last=first + len(result.hits) - 1, stories=stories,
        collapse_link=params.href(collapse=not params.collapse),
        exports=[(f.value, params.link("/export", format=f.value)) for f in ExportFormat],
        api=params.href("/api/search"), store=_holder(request).shown_url, default_per_page=DEFAULT_PER_PAGE)
    return HTMLResponse(html)


async def article_page(request: Request) -> HTMLResponse:
    doc_id = request.path_params["doc_id"]
    if not DOC_ID.fullmatch(doc_id):
        raise HTTPException(404, "no such article: an article id is 40 hexadecimal digits")

    def load(store: Store) -> tuple[Any, Any, list[Document]]:
        doc = store.get_document(doc_id)
        if doc is None:
            return None, None, []
        copies = [m for m in store.story_members(doc.story_id) if m.id != doc.id] \
            if doc.story_id and (doc.story_size or 1) > 1 else []
        return doc, store.histories([doc_id]).get(doc_id), copies

    doc, history, copies = await _holder(request).run(load)
    if doc is None:
        raise HTTPException(404, f"no article {doc_id} in this store")
    observations = history.view_history if history is not None else []
    fields = [(name, getattr(doc, name)) for name in (
        "id", "url", "portal_id", "portal_name", "title", "published_at", "date_precision", "view_count", "author",
        "category", "summary", "province", "current_province", "level", "profile", "crawled_at", "content_hash",
        "story_id", "story_size", "is_source")]
    fields += [(name, value) for name, value in sorted(doc.extra.items())]
    html = render("article.html", doc=doc, fields=fields, history=history, observations=observations, copies=copies,
                  chart=views_chart(observations), paragraphs=[p for p in (doc.body or "").split("\n") if p.strip()],
                  portal_link=SearchParams(portals=(doc.portal_id,)).href(),
                  store=_holder(request).shown_url)
    return HTMLResponse(html)


async def coverage_page(request: Request) -> HTMLResponse:
    rules, meta = request.app.state.rules, request.app.state.meta
    report, alerts = await _holder(request).run(lambda store: check_store(store, rules, meta))
    html = render("coverage.html", report=report, alerts=alerts, cards=summary_cards(report, alerts),
                  portal_link=lambda pid: SearchParams(portals=(pid,)).href(),
                  province_link=lambda name: SearchParams(province=name).href(),
                  store=_holder(request).shown_url)
    return HTMLResponse(html)
