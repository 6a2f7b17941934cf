"""Synthetic portal mirror: a generator of static portal sites and a loopback server for them.

``generate_mirror(out_dir, ...)`` writes ``site/<host>/...``, ``portals.yaml`` and
``truth.jsonl``; ``MirrorServer(out_dir / "site")`` serves them on ``127.0.2.x``.
Names are imported lazily so ``python -m crawler.mirror.server`` runs cleanly.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crawler.mirror.generator import MirrorInfo, generate_mirror
    from crawler.mirror.server import MirrorServer, url_to_relpath

logger = logging.getLogger(__name__)

__all__ = ["MirrorInfo", "MirrorServer", "generate_mirror", "url_to_relpath"]

_WHERE = {
    "MirrorInfo": "crawler.mirror.generator",
    "generate_mirror": "crawler.mirror.generator",
    "MirrorServer": "crawler.mirror.server",
    "url_to_relpath": "crawler.mirror.server",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
