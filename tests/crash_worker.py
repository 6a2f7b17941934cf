"""Test-only hook for the extraction worker processes (``PORTALNEWS_EXTRACTION_WORKER_INIT``):
a page carrying :data:`CRASH_MARK` kills the worker that extracts it, as a page that crashes
the interpreter (lxml on a pathological document, the OOM killer) would."""

from __future__ import annotations

import os
from typing import Any

from pipelines.stages import extraction_pool

CRASH_MARK = "<!-- this page kills its extraction worker -->"


def crash_on_mark() -> None:
    """Runs once in each worker: wrap its extraction so that a marked page ends the process."""
    real = extraction_pool.extract_one

    def extract_or_die(html: str, *args: Any) -> extraction_pool.Extracted:
        if CRASH_MARK in html:
            os._exit(70)
        return real(html, *args)

    extraction_pool.extract_one = extract_or_die  # type: ignore[assignment]
