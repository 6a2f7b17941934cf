"""Shared pytest fixtures (the labelled corpus served on loopback) and the one place that
decides whether a missing piece skips a test or fails it.

A test that needs something the machine may lack calls a helper here instead of
``pytest.skip``: :func:`require_corpus` (``../shared/corpus`` or ``PORTALNEWS_CORPUS``),
:func:`require_browser` (Debian's ``chromium``) and :func:`skip_or_fail` with ``"ENGINE"``
(a live OpenSearch node, see tests/engine/fixtures.py) or ``"SPREADSHEET"`` (LibreOffice).  On a developer's machine the
test is skipped with the reason; with ``PORTALNEWS_REQUIRE_CORPUS=1``,
``PORTALNEWS_REQUIRE_BROWSER=1``, ``PORTALNEWS_REQUIRE_ENGINE=1`` or
``PORTALNEWS_REQUIRE_SPREADSHEET=1`` (``.ci/run`` sets all
four) it fails instead, so a skip never hides a missing piece in CI.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

if TYPE_CHECKING:
    from starlette.testclient import TestClient

    from tests.web_support import WebStore

ROOT = Path(__file__).resolve().parents[1]
#: What a test may need, by the suffix of its PORTALNEWS_REQUIRE_<WHAT> variable.
REQUIREMENTS = ("CORPUS", "BROWSER", "ENGINE", "SPREADSHEET")


def required(what: str) -> bool:
    """True when ``PORTALNEWS_REQUIRE_<WHAT>`` is set (CI): then ``what`` missing is a failure."""
    assert what in REQUIREMENTS, what
    return os.environ.get(f"PORTALNEWS_REQUIRE_{what}", "").strip().lower() in {"1", "true", "yes"}


def skip_or_fail(what: str, reason: str) -> NoReturn:
    """Skip the running test because ``what`` is missing, or fail it when it is required."""
    if required(what):
        pytest.fail(f"{reason} (PORTALNEWS_REQUIRE_{what}=1: this test must run, not skip)", pytrace=False)
    pytest.skip(reason)

# Every server the tests crawl listens on loopback (127.x), which the crawler refuses unless the
# operator allows it (crawler/middlewares/private_hosts.py).  The tests allow it, for this process
# and every crawl it starts; a test of the refusal itself removes the variable.
os.environ.setdefault("PORTALNEWS_ALLOW_PRIVATE_HOSTS", "1")
# Hypothesis (the property tests: tests/test_properties.py, tests/test_search_*.py): a bounded
# number of examples so `make test` stays fast; in CI (HYPOTHESIS_PROFILE=ci, set by .ci/run)
# derandomised, so a failure there reproduces on any machine, and without the example database.
# A test's own @settings(max_examples=…) still wins.  HYPOTHESIS_PROFILE=thorough digs deeper.
hypothesis_settings.register_profile("default", max_examples=60, deadline=None,
                                     suppress_health_check=[HealthCheck.too_slow])
hypothesis_settings.register_profile("ci", parent=hypothesis_settings.get_profile("default"), derandomize=True,
                                     database=None, print_blob=True)
hypothesis_settings.register_profile("thorough", parent=hypothesis_settings.get_profile("default"),
                                     max_examples=5000)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or "default")
# The scheduler tests crawl every few seconds; registries may ask for intervals down to 1 s here
# (the default minimum is 60 s: crawler/registry.py).
os.environ.setdefault("PORTALNEWS_MIN_INTERVAL", "1s")


def corpus_dir() -> Path | None:
    """The labelled corpus: ``PORTALNEWS_CORPUS`` when set (and only there), else ../shared/corpus
    beside the repository (or beside its parent, for a worktree)."""
    env = os.environ.get("PORTALNEWS_CORPUS", "").strip()
    candidates = [Path(env)] if env else [ROOT.parent / "shared" / "corpus", ROOT.parent.parent / "shared" / "corpus"]
    for c in candidates:
        if (c / "truth.jsonl").exists() and (c / "serve.py").exists():
            return c
    return None


def require_corpus() -> Path:
    """The labelled corpus, or skip (fail under ``PORTALNEWS_REQUIRE_CORPUS=1``) naming where it was looked for."""
    root = corpus_dir()
    if root is None:
        env = os.environ.get("PORTALNEWS_CORPUS", "").strip()
        where = f"PORTALNEWS_CORPUS={env}" if env else f"{ROOT.parent / 'shared' / 'corpus'}"
        skip_or_fail("CORPUS", f"labelled corpus not found (looked in {where}); set PORTALNEWS_CORPUS")
    return root


def require_browser() -> str:
    """Debian's headless ``chromium``, or skip (fail under ``PORTALNEWS_REQUIRE_BROWSER=1``)."""
    from tests.monitoring_servers import chromium_binary

    binary = chromium_binary()
    if binary is None:
        skip_or_fail("BROWSER", "chromium is not installed (apt-get install chromium)")
    return binary


def untar(archive: Path, dest: Path) -> None:
    """Extract one of the repository's own test archives into ``dest``: with the ``data``
    filter where the interpreter has it (Python >= 3.11.4, 3.12), and on older 3.11 releases
    (Debian 12's 3.11.2) after refusing any member that is not a plain file or folder inside
    ``dest``."""
    import tarfile

    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, filter="data")
            return
        root = dest.resolve()
        for member in tar.getmembers():
            target = (dest / member.name).resolve()
            if not (member.isfile() or member.isdir()) or not target.is_relative_to(root):
                raise ValueError(f"{archive}: unsafe archive member {member.name!r}")
        tar.extractall(dest)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def loopback_server(host: str, handler: type[BaseHTTPRequestHandler]) -> Iterator[int]:
    """Serve ``handler`` on ``host`` (a 127.x address) in a thread; yields the port."""
    server = ThreadingHTTPServer((host, free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class ServedCorpus:
    root: Path
    port: int
    process: subprocess.Popen[bytes]

    @property
    def registry(self) -> Path:
        return self.root / "portals.yaml"

    def stats(self, reset: bool = False) -> dict[str, object]:
        host = json.loads((self.root / "meta.json").read_text("utf-8"))["hosts"][0]["host"]
        url = f"http://{host}:{self.port}/__stats__" + ("?reset=1" if reset else "")
        with urllib.request.urlopen(url, timeout=10) as resp:
            data: dict[str, object] = json.loads(resp.read().decode("utf-8"))
        return data


@pytest.fixture(scope="session")
def served_corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedCorpus]:
    root = require_corpus()
    port = free_port()
    stats_file = tmp_path_factory.mktemp("corpus") / "stats.json"
    proc = subprocess.Popen([sys.executable, str(root / "serve.py"), str(root), "--port", str(port),
                             "--stats-file", str(stats_file)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    served = ServedCorpus(root=root, port=port, process=proc)
    deadline = time.time() + 20
    while True:
        try:
            served.stats()
            break
        except OSError:
            if time.time() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("corpus server did not start")
            time.sleep(0.1)
    yield served
    proc.terminate()
    proc.wait(10)


# Search-engine fixtures (a live OpenSearch node for the session, ELASTICSEARCH_URL, the
# elasticsearch-client shim): see tests/engine/fixtures.py.
from tests.engine.fixtures import (  # noqa: E402, F401
    _session_cluster,
    core_elasticsearch_url,
    elasticsearch_url,
    es_shim_url,
    opensearch_cluster,
    opensearch_url,
)


# The web app's tests (tests/test_web_*.py): the store the real crawl fills, built once per
# session (tests/web_support.py), and the app on it through Starlette's TestClient.
@pytest.fixture(scope="module")
def web_store(tmp_path_factory: pytest.TempPathFactory) -> WebStore:
    from tests.web_support import web_store as build

    return build(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def web_client(web_store: WebStore) -> Iterator[TestClient]:
    from tests.web_support import app_client

    yield from app_client(web_store)
