"""``portalnews web``: the analysts' web app (search, articles, export, coverage, JSON API) on uvicorn."""

from __future__ import annotations

import argparse
import os
import socket
import sys

from crawler.cli.common import UsageError, store_arg
from crawler.cli.monitoring import monitoring_rules, portal_meta
from pipelines.storage import resolve_store_url
from pipelines.storage.base import redact_url

HELP = "the analysts' web app: search, articles, export, coverage, /api/search"
DESCRIPTION = ("Serve the search page (/), articles (/article/ID), streamed exports "
               "(/export), live coverage (/coverage) and the JSON API (/api/search) from the "
               "store, read-only. Listens on 127.0.0.1 by default; any other --host needs "
               "PORTALNEWS_WEB_TOKEN, and then every request must carry the token "
               "(Authorization: Bearer TOKEN, or open /?token=TOKEN once).")


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from crawler.web.app import create_app
    from crawler.web.security import TOKEN_ENV, is_loopback

    token = os.environ.get(TOKEN_ENV, "").strip() or None
    if not is_loopback(args.host) and not token:
        raise UsageError(f"--host {args.host} listens beyond this machine: set {TOKEN_ENV} to a secret token "
                         "first (every request must then carry it), or keep the default --host 127.0.0.1")
    if token and len(token) < 16:
        raise UsageError(f"{TOKEN_ENV} is too short: use at least 16 characters")
    if not 0 < args.port < 65536:
        raise UsageError(f"--port {args.port}: use 1 to 65535")
    url = resolve_store_url(args.store)
    app = create_app(url, token=token, loopback_hosts_only=not token, rules=monitoring_rules(args),
                     meta=portal_meta(args))
    sock = listen(args.host, args.port)
    where = f"http://{'[' + args.host + ']' if ':' in args.host else args.host}:{sock.getsockname()[1]}/"
    print(f"portalnews web: {where} on the store {redact_url(url)}" + (" (token required)" if token else "")
          + "; Ctrl-C stops", file=sys.stderr, flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, server_header=False, proxy_headers=False)
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    return 0 if server.started else 1


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so that a port in use or an address this machine does
    not have is one clear line (exit 2) rather than the server's own log and exit code."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise UsageError(f"--host {host}: {exc.strerror}") from None
    family, kind, proto, _name, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def add_arguments(p: argparse.ArgumentParser) -> None:
    store_arg(p)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    p.add_argument("--rules", metavar="FILE", help="alert rules for /coverage (default: $PORTALNEWS_ALERT_RULES "
                   "or the bundled ones)")
    p.add_argument("--portals", metavar="FILE", help="registry for portal names, provinces and levels on /coverage "
                   "(default: $PORTALNEWS_PORTALS; else the crawls' own records)")
