"""``portalnews web``: the token, the security headers, loopback by default, and the real server.

Every answer (pages, API, static files, errors, the export stream) carries the
Content-Security-Policy and the other headers; with a token nothing is answered without it;
a non-loopback ``--host`` without ``PORTALNEWS_WEB_TOKEN`` refuses to start (exit 2); and the
app runs under uvicorn on 127.0.0.1 (a real socket, a real HTTP web_client)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
from starlette.testclient import TestClient

from crawler.web.app import create_app
from crawler.web.security import COOKIE, CSP, TOKEN_ENV, cookie_value, host_of, is_loopback
from tests.web_support import WebStore, get, served

TOKEN = "s3cret-token-for-the-tests-0123456789"


def assert_security_headers(headers: dict[str, str] | object) -> None:
    h = {k.lower(): v for k, v in dict(headers).items()}  # type: ignore[call-overload]
    assert h["content-security-policy"] == CSP
    assert "default-src 'self'" in CSP and "'unsafe-inline'" not in CSP
    assert h["x-content-type-options"] == "nosniff"
    assert h["referrer-policy"] == "no-referrer"
    assert h["x-frame-options"] == "DENY"


@pytest.mark.parametrize(("url", "status"), [
    ("/", 200), ("/?q=hoi", 200), ("/coverage", 200), ("/api/search?q=UBND", 200), ("/static/style.css", 200),
    ("/export?q=UBND&format=csv", 200), ("/api/search?page=0", 400), ("/?sort=x", 400), ("/nowhere", 404),
    ("/article/" + "0" * 40, 404), ("/static/missing.css", 404),
])
def test_every_answer_carries_the_security_headers(web_client: TestClient, url: str, status: int) -> None:
    resp = web_client.get(url)
    assert resp.status_code == status
    assert_security_headers(resp.headers)


def test_pages_have_no_inline_script_or_style(web_client: TestClient) -> None:
    for url in ("/?q=hoi", "/coverage"):
        html = web_client.get(url).text
        assert "<script" not in html and "<style" not in html and " style=" not in html
        assert '<link rel="stylesheet" href="/static/style.css">' in html
        assert "http://" not in html.split("<main>")[0] and "https://" not in html.split("<main>")[0], "no CDN"


def test_a_503_and_a_401_carry_the_headers_too(tmp_path: object) -> None:
    with TestClient(create_app("sqlite:////nonexistent/dir/store.db")) as c:
        resp = c.get("/")
        assert resp.status_code == 503
        assert_security_headers(resp.headers)
    with TestClient(create_app("sqlite:////nonexistent/dir/store.db", token=TOKEN)) as c:
        resp = c.get("/")
        assert resp.status_code == 401
        assert_security_headers(resp.headers)


def test_with_a_token_every_request_needs_it(web_store: WebStore) -> None:
    with TestClient(create_app(web_store.url, token=TOKEN)) as c:
        for url in ("/", "/coverage", "/api/search?q=hoi", "/export?format=csv", "/static/style.css", "/nowhere"):
            resp = c.get(url)
            assert resp.status_code == 401, url
            assert TOKEN not in resp.text
        assert c.get("/api/search").json()["error"].startswith("this server needs a token")
        assert c.get("/api/search", headers={"Authorization": f"Bearer {TOKEN}x"}).status_code == 401
        assert c.get("/api/search", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
        assert c.get("/?token=wrong").status_code == 401
        ok = c.get("/api/search", params={"q": "hoi"}, headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200 and ok.json()["total"] > 0
        # /?token= sets a cookie (an HMAC of the token, not the token) and drops the token from the address
        resp = c.get("/", params={"q": "hội nghị", "token": TOKEN}, follow_redirects=False)
        assert resp.status_code == 303
        assert resp.headers["location"] == "/?q=h%E1%BB%99i+ngh%E1%BB%8B"
        cookie = resp.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE}={cookie_value(TOKEN)};") and TOKEN not in cookie
        assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
        page = c.get(resp.headers["location"])  # the web_client keeps the cookie
        assert page.status_code == 200 and 'id="total"' in page.text
        c.cookies.clear()
        c.cookies.set(COOKIE, cookie_value("another token"))
        assert c.get("/").status_code == 401


def test_without_a_token_only_loopback_host_names_are_answered(web_store: WebStore) -> None:
    """DNS rebinding: a page on evil.example whose name resolves to 127.0.0.1 must not read the store."""
    app = create_app(web_store.url, loopback_hosts_only=True)
    for base in ("http://127.0.0.1:8080", "http://localhost", "http://[::1]:8080", "http://127.3.2.1"):
        with TestClient(app, base_url=base) as c:
            assert c.get("/api/search", params={"q": "hoi"}).status_code == 200, base
    with TestClient(app, base_url="http://evil.example:8080") as c:
        for url in ("/", "/api/search?q=hoi", "/export?format=csv", "/coverage"):
            resp = c.get(url)
            assert resp.status_code == 400 and "loopback" in resp.text
            assert_security_headers(resp.headers)


def test_loopback_hosts() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.8.9.10", "localhost", "::1", "[::1]"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.10", "10.0.0.1", "example.org"))
    assert [host_of(h) for h in ("[::1]:8080", "[::1]", "localhost:80", "127.0.0.1", "evil.example:1")] == [
        "::1", "::1", "localhost", "127.0.0.1", "evil.example"]


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "crawler.cli", "web", *args], capture_output=True, text=True,
                          env=env, timeout=60)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10"])
def test_a_non_loopback_host_needs_the_token(web_store: WebStore, host: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    run = _cli("--store", web_store.url, "--host", host, "--port", "1", env=env)
    assert run.returncode == 2
    assert TOKEN_ENV in run.stderr and f"--host {host}" in run.stderr
    assert "Traceback" not in run.stderr
    short = _cli("--store", web_store.url, "--host", host, "--port", "1", env={**env, TOKEN_ENV: "short"})
    assert short.returncode == 2 and "too short" in short.stderr


def test_a_port_in_use_is_one_clear_line(web_store: WebStore) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        run = _cli("--store", web_store.url, "--port", str(port), env=dict(os.environ))
    assert run.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in run.stderr and "Traceback" not in run.stderr


def test_uvicorn_serves_the_app_on_loopback(web_store: WebStore) -> None:
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    with served(web_store.url, env=env) as base:
        status, headers, body = get(f"{base}/api/search?q=UBND&per_page=3")
        assert status == 200
        data = json.loads(body)
        assert data["total"] > 3 and len(data["hits"]) == 3
        assert_security_headers(headers)
        status, headers, body = get(f"{base}/?q=UBND")
        assert status == 200 and f'data-total="{data["total"]}"' in body.decode("utf-8")
        assert "server" not in {k.lower() for k in headers}
        assert get(f"{base}/api/search?q=hoi", headers={"Host": "rebound.example"})[0] == 400
        status, _headers, body = get(f"{base}/export?q=UBND&format=jsonl")
        assert status == 200 and len(body.decode("utf-8").splitlines()) == data["total"]


def test_uvicorn_with_a_token(web_store: WebStore) -> None:
    with served(web_store.url, env={**os.environ, TOKEN_ENV: TOKEN}) as base:
        assert get(f"{base}/api/search?q=hoi")[0] == 401
        status, _h, body = get(f"{base}/api/search?q=hoi", headers={"Authorization": f"Bearer {TOKEN}"})
        assert status == 200 and json.loads(body)["total"] > 0
