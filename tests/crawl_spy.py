"""Run ``scrapy crawl`` in this process with counters on the resources a crawl uses, then
write them as JSON: store opens and closes, page decodings (by ``decode_page`` and by
Scrapy's own decoder).  The counters wrap the real functions; nothing is replaced.

usage: python -m tests.crawl_spy OUT.json SCRAPY_ARGS...   (from the repository root)
"""

from __future__ import annotations

import functools
import json
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import scrapy.http.response.text as scrapy_text
from scrapy.cmdline import execute

import pipelines.extract.encoding
from pipelines.storage.sqlite import SQLiteStore

counts: Counter[str] = Counter()
decoded_urls: Counter[str] = Counter()


def counted(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        counts[name] += 1
        if name == "decode_page":
            decoded_urls[str(args[2] if len(args) > 2 else kwargs.get("url", ""))] += 1
        return fn(*args, **kwargs)
    return wrapper


def main(out: Path, argv: list[str]) -> None:
    SQLiteStore.open = counted("store_open", SQLiteStore.open)  # type: ignore[method-assign]
    SQLiteStore.close = counted("store_close", SQLiteStore.close)  # type: ignore[method-assign]
    scrapy_text.html_to_unicode = counted("scrapy_decode", scrapy_text.html_to_unicode)  # type: ignore[assignment]
    original = pipelines.extract.encoding.decode_page
    spy = counted("decode_page", original)
    for module in list(sys.modules.values()):  # the modules that import it later get the counter too
        if getattr(module, "decode_page", None) is original:
            module.decode_page = spy  # type: ignore[attr-defined]
    try:
        execute(["scrapy", *argv])
    except SystemExit as exc:
        counts["exit_code"] = int(exc.code or 0)
    out.write_text(json.dumps({"counts": counts, "decoded_urls": decoded_urls}), "utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2:])
