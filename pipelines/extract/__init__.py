"""Pure page extraction: fields and page kind from ``(html, url)``; never fetches.

Modules: ``encoding`` (bytes -> text), ``document`` (one lxml parse + block model),
``heuristics`` (layout-independent signals), ``generic`` (title/date/views/author/
category), ``body`` (main text), ``classify`` (page kind), ``profile_engine``
(site-family profiles), ``api`` (the public entry points re-exported here).
"""

import logging

from pipelines.extract.api import PageExtraction, decode_html, detect_profile, extract_page

logger = logging.getLogger(__name__)

__all__ = ["PageExtraction", "decode_html", "detect_profile", "extract_page"]
