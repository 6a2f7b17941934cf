"""Stories as users see them (issue 13): ``stories``, ``search --collapse``, export/import and
coverage on a real SQLite store, and a crawl of the mirror's story portals (the truth is the
mirror's truth file) in two rounds, the second adding reprints and originals."""

from __future__ import annotations

import itertools
import json
import sqlite3
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from crawler.cli import main as cli_main
from crawler.mirror import MirrorServer, generate_mirror
from pipelines.storage import open_store
from tests.test_crawl_corpus import FAST, run_cli

STORIES_SET = Path(__file__).parent / "fixtures" / "stories"


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli_main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def story_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, str], Path]:
    """The blind evaluation set imported with ``portalnews import`` (which reconciles at its end)."""
    tmp = tmp_path_factory.mktemp("story-store")
    lines, truth = [], {}
    for line in (STORIES_SET / "articles.jsonl").read_text("utf-8").splitlines():
        a = json.loads(line)
        truth[a["url"]] = a["story"]
        lines.append(json.dumps({"url": a["url"], "portal_id": a["portal_id"], "portal_name": a["portal_name"],
                                 "title": a["title"], "body": a["body"], "published_at": a["published_at"],
                                 "author": a.get("author"), "crawled_at": "2026-01-01T00:00:00+00:00"},
                                ensure_ascii=False))
    src = tmp / "articles.jsonl"
    src.write_text("\n".join(lines) + "\n", "utf-8")
    url = f"sqlite:///{tmp / 's.db'}"
    open_store(url).open()  # import loads into an existing store
    assert cli_main(["import", "--store", url, str(src)]) == 0
    return url, truth, tmp


def test_stories_lists_the_largest_story_first_with_its_copies(story_store: tuple[str, dict[str, str], Path],
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    url, truth, _ = story_store
    code, out, err = run_main(capsys, "stories", "--store", url, "--json", "--limit", "500")
    assert code == 0, err
    stories = json.loads(out)
    assert stories and all(s["size"] >= 2 for s in stories)
    assert [s["portals"] for s in stories] == sorted((s["portals"] for s in stories), reverse=True)
    top = stories[0]
    assert len({truth[c["url"]] for c in top["copies"]}) == 1  # one true story
    members = [u for u, k in truth.items() if k == truth[top["url"]]]
    assert sorted(c["url"] for c in top["copies"]) == sorted(members)
    assert top["copies"][0]["is_source"] and not any(c["is_source"] for c in top["copies"][1:])
    # filters
    code, out, _ = run_main(capsys, "stories", "--store", url, "--json", "--min-portals", str(top["portals"]))
    assert all(s["portals"] >= top["portals"] for s in json.loads(out))
    code, out, _ = run_main(capsys, "stories", "--store", url, "--json", "--since", "2100-01-01")
    assert json.loads(out) == []
    code, out, _ = run_main(capsys, "stories", "--store", url, "--limit", "1")
    assert code == 0 and out.startswith(" 1. ") and f"{top['size']} copies on {top['portals']} portals" in out


def test_search_collapse_shows_one_hit_per_story_and_the_other_portals(
        story_store: tuple[str, dict[str, str], Path], capsys: pytest.CaptureFixture[str]) -> None:
    url, truth, _ = story_store
    code, out, _ = run_main(capsys, "search", "lich tiep cong dan", "--store", url, "--json", "--per-page", "50")
    plain = json.loads(out)
    code, out, err = run_main(capsys, "search", "lich tiep cong dan", "--store", url, "--json", "--per-page", "50",
                              "--collapse")
    assert code == 0, err
    collapsed = json.loads(out)
    assert collapsed["collapsed"] and collapsed["total"] == plain["total"]
    ids = [h["story_id"] for h in collapsed["hits"]]
    assert len(ids) == len(set(ids)) and len(ids) < len(plain["hits"])
    multi = [h for h in collapsed["hits"] if h["story_size"] > 1]
    assert multi
    for h in multi:
        assert len(h["copies"]) == h["story_size"] - 1
        assert h["more_portals"] == len({c["portal_id"] for c in h["copies"]} - {h["portal_id"]})
        assert {truth[c["url"]] for c in h["copies"]} == {truth[h["url"]]}
    code, out, _ = run_main(capsys, "search", "lich tiep cong dan", "--store", url, "--collapse", "--per-page", "50")
    assert "more portal" in out


def test_export_carries_story_fields_and_import_reads_them_back(story_store: tuple[str, dict[str, str], Path],
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    url, _, tmp = story_store
    first = tmp / "first.jsonl"
    assert run_main(capsys, "export", "--store", url, "-o", str(first))[0] == 0
    rows = [json.loads(line) for line in first.read_text("utf-8").splitlines()]
    assert all({"story_id", "story_size", "is_source"} <= set(r) for r in rows)
    by_story: dict[str, list[dict]] = {}
    for r in rows:
        by_story.setdefault(r["story_id"], []).append(r)
    assert any(len(v) > 1 for v in by_story.values())
    for members in by_story.values():
        assert {m["story_size"] for m in members} == {len(members)}
        assert sum(m["is_source"] for m in members) == 1
    other = f"sqlite:///{tmp / 'again.db'}"
    open_store(other).open()
    assert run_main(capsys, "import", "--store", other, str(first))[0] == 0
    again = tmp / "again.jsonl"
    assert run_main(capsys, "export", "--store", other, "-o", str(again))[0] == 0
    assert again.read_bytes() == first.read_bytes()
    bad = tmp / "bad.jsonl"
    bad.write_text(json.dumps({**rows[0], "story_size": "many"}) + "\n", "utf-8")
    code, _, err = run_main(capsys, "import", "--store", other, str(bad))
    assert code == 1 and "story_size 'many' is not a whole number" in err


def test_import_with_stories_later_finds_the_same_stories_on_reconcile(
        story_store: tuple[str, dict[str, str], Path], capsys: pytest.CaptureFixture[str]) -> None:
    """A bulk load with ``--stories later`` leaves every document a story of its own (nothing
    signed); ``stories --reconcile`` then finds exactly the stories of an import that
    reconciled at its end."""
    url, _, tmp = story_store
    src = tmp / "articles.jsonl"
    later = f"sqlite:///{tmp / 'later.db'}"
    code, _, err = run_main(capsys, "import", "--stories", "later", "--store", later, str(src))
    assert code == 0, err
    assert "stories left for later" in err and "portalnews stories --reconcile" in err
    with open_store(later) as store:
        docs = list(store.iter_documents())
    assert docs and all(d.story_size == 1 and d.is_source and d.story_id == d.id for d in docs)
    assert json.loads(run_main(capsys, "stories", "--store", later, "--json")[1]) == []
    code, out, err = run_main(capsys, "stories", "--reconcile", "--store", later, "--json", "--limit", "500")
    assert code == 0, err
    assert f"signed {len(docs)} document(s) loaded without their story signature" in err
    expected = json.loads(run_main(capsys, "stories", "--store", url, "--json", "--limit", "500")[1])
    assert json.loads(out) == expected and expected
    # nothing is left to sign: a second reconciliation (a crawl's) has no work
    code, _, err = run_main(capsys, "stories", "--reconcile", "--store", later, "--json")
    assert code == 0 and "reconciled 0 document(s)" in err and "signed" not in err


def test_coverage_gives_each_portal_its_reprint_and_own_shares(story_store: tuple[str, dict[str, str], Path],
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    url, _, _ = story_store
    code, out, err = run_main(capsys, "coverage", "--store", url, "--json")
    assert code == 0, err
    rows = json.loads(out)
    with open_store(url) as store:
        docs = list(store.iter_documents())
    for row in rows:
        mine = [d for d in docs if d.portal_id == row["portal_id"]]
        reprints = sum(d.is_source is False for d in mine)
        assert row["articles"] == len(mine) and row["reprints"] == reprints
        assert row["reprint_share"] == pytest.approx(reprints / len(mine), abs=1e-4)
        assert row["own_share"] == pytest.approx(1 - reprints / len(mine), abs=1e-4)
    assert any(r["reprint_share"] > 0 for r in rows) and len({r["reprint_share"] for r in rows}) > 1
    code, out, _ = run_main(capsys, "coverage", "--store", url)
    assert "reprints" in out.splitlines()[0]


def _pairs(stories: dict[str, str], truth: dict[str, str]) -> tuple[float, float]:
    found = right = pairs = 0
    for a, b in itertools.combinations(sorted(truth), 2):
        same, pred = truth[a] == truth[b], stories[a] == stories[b]
        pairs += same
        found += pred
        right += same and pred
    return right / found, right / pairs


def test_two_crawls_of_the_mirror_give_the_true_stories_with_stable_ids(tmp_path: Path) -> None:
    """The mirror's story portals crawled in two rounds: first half of the portals, then all
    (reprints and originals arrive in the second).  After each crawl the stories meet the
    issue's precision and recall against the truth file; an id given by the first crawl
    changes only when the second brought an earlier publication of that story."""
    info = generate_mirror(tmp_path / "mirror", portals=8, articles_per_portal=4, seed=5, stories=12)
    truth_rows = [json.loads(line) for line in info.truth_path.read_text("utf-8").splitlines()]
    registry = info.registry_path.read_text("utf-8")
    portal_ids = sorted({r["portal_id"] for r in truth_rows})
    first_ids = portal_ids[: len(portal_ids) // 2]
    store = f"sqlite:///{tmp_path / 'm.db'}"
    seen: list[dict[str, tuple[str, str | None]]] = []

    def path_key(u: str) -> str:
        parts = urlsplit(u)
        return f"{parts.hostname}{parts.path}?{parts.query}"

    truth = {path_key(r["url"]): r["story"] for r in truth_rows}
    with MirrorServer(info.root / "site") as server:
        for round_ in (first_ids, portal_ids):
            args = [a for pid in round_ for a in ("--portal", pid)]
            crawl = run_cli("crawl", "--portals", str(info.registry_path), "--var", f"PORT={server.port}",
                            "--store", store, *args, *FAST)
            assert crawl.returncode == 0, crawl.stderr[-2000:]
            rows = [json.loads(line) for line in run_cli("export", "--store", store).stdout.splitlines()]
            got = {path_key(r["url"]): (r["story_id"], r["published_at"]) for r in rows}
            assert set(got) == {k for k, r in zip(truth, truth_rows, strict=True) if r["portal_id"] in round_}
            precision, recall = _pairs({k: v[0] for k, v in got.items()}, {k: truth[k] for k in got})
            assert precision >= 0.98 and recall >= 0.95, (precision, recall)
            seen.append(got)
    assert registry  # the registry names every portal
    first, second = seen
    ids = {r[0] for r in second.values()}
    by_id = {d[0]: d for d in second.values()}
    changed = [k for k in first if first[k][0] != second[k][0]]
    assert len(changed) < len(first) / 2
    for k in changed:  # the new id is that of an earlier publication
        assert (second[k][1] or "") <= (first[k][1] or "~") or second[k][0] in ids
    assert by_id


def test_documents_signed_by_the_extraction_get_the_stories_of_unsigned_ones(tmp_path: Path) -> None:
    """A crawl's documents arrive signed by the extraction worker; imported ones are signed by
    the store; an unusable signature (another version, cut bytes) is made again from the body.
    Either way a document keeps the same signature and lands in the same story."""
    from pipelines.storage.base import Document
    from pipelines.stories import SignatureParams, make_signature

    docs = []
    for line in (STORIES_SET / "articles.jsonl").read_text("utf-8").splitlines():
        a = json.loads(line)
        docs.append(Document(url=a["url"], portal_id=a["portal_id"], title=a["title"], body=a["body"],
                             published_at=a["published_at"], crawled_at="2026-01-01T00:00:00+00:00"))
    other_version = make_signature("x", SignatureParams(num_perm=64)).to_bytes()
    presigned = [lambda d: make_signature(d.body).to_bytes(), lambda d: b"\x07cut", lambda d: other_version,
                 lambda d: None]
    signed = [Document(**{**d.to_dict(), "story_signature": presigned[i % 4](d)}) for i, d in enumerate(docs)]
    assert sum(d.story_signature is not None for d in signed) > len(docs) / 2
    results = []
    for name, batch in (("plain", docs), ("signed", signed)):
        store = open_store(f"sqlite:///{tmp_path / name}.db")
        store.open()
        for i in range(0, len(batch), 40):  # the crawl's writer stores batches
            store.upsert_documents(batch[i:i + 40])
        store.reconcile_stories()
        results.append({d.url: (d.story_id, d.story_size, d.is_source) for d in store.iter_documents()})
        store.close()
    assert results[0] == results[1]
    assert len({v[0] for v in results[0].values()}) < len(docs) * 0.7  # real stories were formed
    with sqlite3.connect(tmp_path / "plain.db") as a, sqlite3.connect(tmp_path / "signed.db") as b:
        query = "SELECT id, story_signature FROM documents ORDER BY id"
        assert a.execute(query).fetchall() == b.execute(query).fetchall()
    # a signature travels with the document only as far as the store: exports never carry it
    assert "story_signature" not in signed[0].to_dict()
