"""``portalnews demo``: generate a small mirror, serve it on loopback, crawl it, show results.

Everything happens on this machine: the mirror is generated from templates into the
work folder and served on 127.0.2.x; no request leaves loopback.  The articles are dated
in the month before today, so the first look shows healthy portals; one more portal in
the registry (``demo-broken-1``) is down on purpose, so that coverage and the alerts show
what a failing portal looks like.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from crawler.mirror import MirrorServer, generate_mirror
from crawler.mirror.generator import BROKEN_PORTAL_ID, RECENT_DAYS
from pipelines.normalize.dates import VN_TZ

SAMPLE_QUERY = "hoi nghi"


HELP = "serve a bundled mirror on loopback, crawl it, show coverage and a search"
DESCRIPTION = ("Generates a small mirror of several portal layouts, serves it on "
               "127.0.2.x, crawls it into an embedded store and prints coverage and a "
               "sample search. Needs no internet.")


def _run(args: list[str]) -> int:
    print("$ portalnews " + " ".join(args), flush=True)
    return subprocess.call([sys.executable, "-m", "crawler.cli", *args])


def run_demo(workdir: Path, store: str | None = None, articles: int = 12) -> int:
    mirror_dir = workdir / "mirror"
    if mirror_dir.exists():
        shutil.rmtree(mirror_dir)
    now = datetime.now(VN_TZ).replace(tzinfo=None)  # the mirror's dates are Vietnam local time
    info = generate_mirror(mirror_dir, portals=5, articles_per_portal=articles, now=now, broken_portal=True)
    print(f"generated a mirror of {len(info.hosts)} portals ({info.articles} articles of the last "
          f"{RECENT_DAYS} days, {info.pages} pages) in {mirror_dir}; the registry also lists "
          f"{BROKEN_PORTAL_ID}, a portal that is down on purpose", flush=True)
    store_url = store or f"sqlite:///{(workdir / 'demo.db').as_posix()}"
    with MirrorServer(info.root / "site") as server:
        port = server.port
        print(f"serving it on {', '.join(f'http://{h}:{port}/' for h in info.hosts)}\n", flush=True)
        common = ["--store", store_url]
        # the mirror is on loopback, which a crawl refuses unless it is allowed explicitly
        code = _run(["crawl", "--portals", str(info.registry_path), "--var", f"PORT={port}",
                     "--allow-private-hosts", *common])
        if code not in (0, 1):
            return code
    print()
    _run(["coverage", *common])
    print()
    _run(["search", SAMPLE_QUERY, "--limit", "3", *common])
    print(f"\nTry: portalnews search 'hội nghị' --store {store_url}\n"
          f"     portalnews export --store {store_url} -o export.jsonl")
    return code


def run(args: argparse.Namespace) -> int:
    return run_demo(workdir=Path(args.workdir), store=args.store, articles=args.articles)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workdir", default="data/demo", help="folder for the mirror and the store (default data/demo)")
    p.add_argument("--store", metavar="URL", help="store URL (default sqlite:///WORKDIR/demo.db)")
    p.add_argument("--articles", type=int, default=12, metavar="N", help="articles per portal (default 12)")
