"""A loopback HTTP shim that lets the official ``elasticsearch`` client talk to OpenSearch.

The elasticsearch 8.x client refuses any server that does not answer with the header
``X-Elastic-Product: Elasticsearch`` and sends versioned media types
(``application/vnd.elasticsearch+json; compatible-with=8``) that OpenSearch rejects.
This shim forwards every request unchanged except for those media types and adds the
product header to every answer (opensearch-py does not mind either; :meth:`fail_next`
injects 429/5xx answers for the retry tests), so that portalnews' Elasticsearch code path (the
``elasticsearch`` and ``AsyncElasticsearch`` clients and their bulk helpers) runs
against the real OpenSearch node in the test suite.  The APIs portalnews uses are the
same on both engines.  It is not a substitute for Elasticsearch itself: the contract
suite also runs against a real Elasticsearch whenever ``ELASTICSEARCH_URL`` is set.
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)

_VND = re.compile(r"application/vnd\.elasticsearch\+([a-z-]+)(;\s*compatible-with=\d+)?")
_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer"}


class ElasticsearchShim:
    """``with ElasticsearchShim("http://127.0.0.1:PORT") as shim: shim.url``"""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 9200
        self.requests = 0
        self.paths: list[str] = []  # the path of every request, in order
        self.injected: list[tuple[str, int]] = []  # (path, status) of the errors answered so far
        self._faults: list[tuple[str, int]] = []
        self._lock = threading.Lock()
        shim = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                logger.debug("shim: " + format, *args)

            def _forward(self) -> None:
                shim.requests += 1
                shim.paths.append(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                fault = shim._take_fault(self.path)
                if fault is not None:
                    data = json.dumps({"error": {"type": "injected_failure", "reason": f"injected HTTP {fault}"},
                                       "status": fault}).encode()
                    self.send_response(fault)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("X-Elastic-Product", "Elasticsearch")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                headers = {}
                for name, value in self.headers.items():
                    if name.lower() in _HOP or name.lower() == "host":
                        continue
                    headers[name] = _VND.sub(lambda m: f"application/{m.group(1)}", value)
                conn = http.client.HTTPConnection(shim.upstream_host, shim.upstream_port, timeout=120)
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                except OSError as exc:
                    self.send_error(502, f"upstream unreachable: {exc}")
                    return
                finally:
                    conn.close()
                self.send_response(resp.status)
                for name, value in resp.getheaders():
                    if name.lower() in _HOP or name.lower() == "content-length":
                        continue
                    self.send_header(name, value)
                self.send_header("X-Elastic-Product", "Elasticsearch")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="es-shim", daemon=True)

    def fail_next(self, path_part: str, *statuses: int) -> None:
        """Answer the next requests whose path contains ``path_part`` with these HTTP
        statuses (one each) instead of forwarding them: fault injection for retry tests."""
        with self._lock:
            self._faults.extend((path_part, status) for status in statuses)

    def _take_fault(self, path: str) -> int | None:
        with self._lock:
            for i, (part, status) in enumerate(self._faults):
                if part in path:
                    del self._faults[i]
                    self.injected.append((path, status))
                    return status
        return None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> str:
        self._thread.start()
        return self.url

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> ElasticsearchShim:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
