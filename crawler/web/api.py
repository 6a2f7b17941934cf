"""``/api/search``: the search as JSON (the answer of ``portalnews search --json``).

Parameters and answer: README, "/api/search".  A bad parameter is a 400 whose JSON names
it (``{"error": …, "parameter": …}``); a store that cannot answer is a 503 with the reason.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from crawler.web.params import parse_search
from crawler.web.storeholder import StoreHolder
from pipelines.output import json_line


def json_response(data: Any, status_code: int = 200) -> Response:
    """JSON with Vietnamese kept readable and DEL/C1 characters escaped (pipelines/output.py)."""
    return Response(json_line(data), status_code=status_code, media_type="application/json")


async def api_search(request: Request) -> Response:
    params = parse_search(request.query_params)
    holder: StoreHolder = request.app.state.holder
    result = await holder.run(lambda store: store.search(params.query(facets=True)))
    return json_response(result.to_api())
