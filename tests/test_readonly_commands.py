"""Read-only commands never create a store, and monitoring never calls nothing healthy
(issue 10, defect 1).

``check``, ``coverage``, ``report``, ``search``, ``export``, ``serve --metrics`` and
``schedule --status`` read a store: pointed at a path with a typo they used to create the
folders and an empty database, print "OK: all 0 portal(s) pass" and exit 0.  Now a missing
store is an error (exit 2, naming the path, nothing created), a store with no portal or no
crawl is a failing check (exit 1, saying why), and ``/metrics`` says the store is empty.
The engine half (a missing alias) runs against a real OpenSearch node.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path

import pytest

from crawler.cli import main
from pipelines.monitoring.metrics import MetricsServer, store_collector
from pipelines.storage import Document, RunRecord, StoreError, open_store
from pipelines.storage.sqlite import SQLiteStore
from tests.conftest import free_port
from tests.metrics_text import metric_samples, sample
from tests.scheduling import run_cli

REGISTRY = ("portals:\n  - {id: son-hoa, name: Huyện Sơn Hòa, level: district, province: Phú Yên, "
            "url: 'http://127.0.0.1:9/'}\n")


def _commands(store: str, tmp_path: Path) -> list[list[str]]:
    registry = tmp_path / "portals.yaml"
    registry.write_text(REGISTRY, "utf-8")
    return [["check", "--store", store], ["check", "--json", "--store", store], ["coverage", "--store", store],
            ["coverage", "--json", "--store", store], ["report", "--store", store, "-o", str(tmp_path / "r.html")],
            ["search", "hội nghị", "--store", store], ["export", "--store", store],
            ["schedule", "--status", "--portals", str(registry), "--store", store]]


@pytest.mark.parametrize("index", range(8))
def test_a_read_only_command_on_a_missing_sqlite_store_is_an_error_and_creates_nothing(
        index: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "some" / "typo" / "portalnws.db"
    argv = _commands(f"sqlite:///{missing}", tmp_path)[index]
    assert main(argv) == 2, argv
    captured = capsys.readouterr()
    assert str(missing) in captured.err and "Traceback" not in captured.err
    assert "OK" not in captured.out
    assert not (tmp_path / "some").exists(), f"{argv[0]} created {tmp_path / 'some'}"


def test_serve_metrics_on_a_missing_store_stops_at_once(tmp_path: Path) -> None:
    """In a child process: before the fix it created the store and served until stopped."""
    missing = tmp_path / "some" / "typo" / "portalnws.db"
    try:
        result = run_cli("serve", "--metrics", "--port", str(free_port()), "--store", f"sqlite:///{missing}",
                         timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("serve --metrics served a store that does not exist")
    assert result.returncode == 2
    assert str(missing) in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "some").exists()


def test_check_run_from_a_folder_without_a_store_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("PORTALNEWS_STORE", "ELASTICSEARCH_URL"):
        monkeypatch.delenv(name, raising=False)
    assert main(["check"]) == 2
    assert "data/portalnews.db" in capsys.readouterr().err
    assert not (tmp_path / "data").exists()


def _empty_store(path: Path) -> str:
    store = SQLiteStore(path)
    store.open()
    store.close()
    return f"sqlite:///{path}"


def test_check_on_a_store_with_no_portal_fails_and_says_why(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    url = _empty_store(tmp_path / "empty.db")
    assert main(["check", "--store", url]) == 1
    captured = capsys.readouterr()
    assert "OK" not in captured.out
    assert "no portal" in (captured.out + captured.err)
    assert main(["check", "--json", "--store", url]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False and data["problems"]


def test_check_on_a_store_with_documents_but_no_crawl_fails(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    store = SQLiteStore(tmp_path / "docs.db")
    store.open()
    store.upsert_documents([Document(url="http://127.0.0.1/tin/1.html", portal_id="son-hoa",
                                     title="Hội nghị", body="Nội dung " * 20,
                                     published_at="2026-01-01T00:00:00+07:00")])
    store.close()
    assert main(["check", "--store", f"sqlite:///{tmp_path / 'docs.db'}"]) == 1
    captured = capsys.readouterr()
    assert "no crawl" in (captured.out + captured.err)


def test_check_with_a_registry_whose_portals_were_never_crawled_fails(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = _empty_store(tmp_path / "empty.db")
    registry = tmp_path / "portals.yaml"
    registry.write_text(REGISTRY, "utf-8")
    assert main(["check", "--store", url, "--portals", str(registry)]) == 1
    captured = capsys.readouterr()
    assert "son-hoa" in captured.out + captured.err


def test_check_still_passes_on_a_healthy_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from datetime import UTC, datetime, timedelta

    store = SQLiteStore(tmp_path / "ok.db")
    store.open()
    now = datetime.now(UTC)
    store.upsert_documents([Document(url="http://127.0.0.1/tin/1.html", portal_id="son-hoa", title="Hội nghị",
                                     body="Nội dung " * 20, published_at=(now - timedelta(days=1)).isoformat())])
    store.save_run(RunRecord(run_id="r1", portal_id="son-hoa", started_at=now.isoformat(timespec="seconds"),
                             finished_at=now.isoformat(timespec="seconds"), outcome="ok", pages_fetched=3,
                             articles_new=1))
    store.close()
    assert main(["check", "--store", f"sqlite:///{tmp_path / 'ok.db'}"]) == 0
    assert "OK: all 1 portal(s)" in capsys.readouterr().out


def _scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return str(resp.read().decode("utf-8"))


def test_metrics_say_an_empty_store_is_empty_and_a_missing_one_is_down(tmp_path: Path) -> None:
    url = _empty_store(tmp_path / "empty.db")
    server = MetricsServer(store_collector(url), "127.0.0.1", 0, cache_seconds=0)
    server.start()
    try:
        samples = metric_samples(_scrape(server.url))
    finally:
        server.stop()
    assert sample(samples, "portalnews_store_up") == 1
    assert sample(samples, "portalnews_store_empty") == 1
    assert sample(samples, "portalnews_portals") == 0

    missing = tmp_path / "gone" / "portalnews.db"
    server = MetricsServer(store_collector(f"sqlite:///{missing}"), "127.0.0.1", 0, cache_seconds=0)
    server.start()
    try:
        text = _scrape(server.url)
    finally:
        server.stop()
    samples = metric_samples(text)
    assert sample(samples, "portalnews_store_up") == 0
    assert str(missing) in text
    assert not missing.parent.exists()


def test_metrics_of_a_crawled_store_are_not_empty(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "ok.db")
    store.open()
    store.save_run(RunRecord(run_id="r1", portal_id="son-hoa", started_at="2026-01-01T00:00:00+00:00",
                             finished_at="2026-01-01T00:01:00+00:00", outcome="ok", pages_fetched=3))
    store.close()
    server = MetricsServer(store_collector(f"sqlite:///{tmp_path / 'ok.db'}"), "127.0.0.1", 0, cache_seconds=0)
    server.start()
    try:
        samples = metric_samples(_scrape(server.url))
    finally:
        server.stop()
    assert sample(samples, "portalnews_store_empty") == 0


def test_open_without_create_refuses_a_file_that_is_not_a_store(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    store = open_store(f"sqlite:///{empty}")
    with pytest.raises(StoreError, match=r"empty\.db"):
        store.open(create=False)
    store.close()
    assert empty.stat().st_size == 0


def test_open_without_create_refuses_a_missing_engine_store(opensearch_url: str,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    from tests.engine.fixtures import drop_engine_indices, opensearch_store_url, unique_prefix

    prefix = unique_prefix()
    url = opensearch_store_url(opensearch_url, prefix)
    store = open_store(url)
    try:
        with pytest.raises(StoreError, match=prefix):
            store.open(create=False)
        assert main(["check", "--store", url]) == 2
        assert prefix in capsys.readouterr().err
        names = json.loads(_scrape(f"{opensearch_url}/_cat/indices/{prefix}*?format=json"))
        assert names == [], "a read-only open created indices"
    finally:
        store.close()
        drop_engine_indices(url)
