"""``portalnews demo``: a newcomer's first look shows a healthy crawl and one true alert (issue 10).

The demo's articles are dated in the month before today, so its five portals are fresh;
one more portal in its registry is down on purpose, and it is the only one coverage and
``check`` complain about.  The demo allows its own loopback mirror: it runs here without
``PORTALNEWS_ALLOW_PRIVATE_HOSTS``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

from crawler.mirror import generate_mirror
from crawler.mirror.generator import BROKEN_PORTAL_ID, RECENT_DAYS

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "crawler.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=300)


def test_the_demo_shows_healthy_portals_and_one_broken_one(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PORTALNEWS_ALLOW_PRIVATE_HOSTS"}
    demo = _cli("demo", "--workdir", str(tmp_path / "demo"), "--articles", "4", env=env)
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert "Traceback" not in demo.stderr
    store = f"sqlite:///{tmp_path / 'demo' / 'demo.db'}"
    coverage = {p["portal_id"]: p for p in json.loads(_cli("coverage", "--json", "--store", store, env=env).stdout)}
    assert len(coverage) == 6
    broken = coverage.pop(BROKEN_PORTAL_ID)
    assert broken["status"] == "unreachable"
    for pid, p in coverage.items():
        assert p["status"] == "ok", (pid, p["status"], p["problems"])
        assert p["articles"] == 4 and p["age_days"] is not None and p["age_days"] <= 1, (pid, p)
    check = _cli("check", "--store", store, env=env)
    assert check.returncode == 1
    assert check.stdout.split()[0] == BROKEN_PORTAL_ID and check.stdout.count("health") == 1, check.stdout


def test_mirror_dates_relative_to_now_are_recent_and_never_in_the_future(tmp_path: Path) -> None:
    now = datetime(2026, 3, 1, 7, 5)  # early morning: articles "later today" must move to yesterday
    info = generate_mirror(tmp_path / "m", portals=5, articles_per_portal=20, now=now, broken_portal=True)
    dates = [json.loads(line)["published_at"][:19] for line in info.truth_path.read_text("utf-8").splitlines()]
    assert len(dates) == 100
    stamps = [datetime.fromisoformat(d) for d in dates]
    assert all(now - timedelta(days=RECENT_DAYS + 1) <= s <= now for s in stamps)
    newest_by_portal: dict[str, datetime] = {}
    for line, stamp in zip(info.truth_path.read_text("utf-8").splitlines(), stamps, strict=True):
        pid = json.loads(line)["portal_id"]
        newest_by_portal[pid] = max(stamp, newest_by_portal.get(pid, stamp))
    # the newest article is less than a day old (on a date-only layout: dated yesterday or today)
    assert all(s.date() >= (now - timedelta(days=1)).date() for s in newest_by_portal.values())
    assert BROKEN_PORTAL_ID in info.registry_path.read_text("utf-8")
    assert len(info.hosts) == 5  # nothing is served for the broken portal


def test_without_now_the_mirror_is_the_same_as_before(tmp_path: Path) -> None:
    """Tests and the benchmark keep their fixed, reproducible dates (2019-2026): the same files as
    before dates relative to ``now`` existed (the same draws of the seeded RNG)."""
    info = generate_mirror(tmp_path / "m", portals=2, articles_per_portal=5)
    dates = sorted(json.loads(line)["published_at"][:10] for line in info.truth_path.read_text("utf-8").splitlines())
    assert dates == ["2020-03-11", "2021-08-07", "2021-12-28", "2023-12-28", "2024-02-21", "2024-03-13",
                     "2024-07-12", "2024-10-25", "2025-04-11", "2025-11-30"]
