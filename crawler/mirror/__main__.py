"""``python -m crawler.mirror``: generate a synthetic mirror or serve one.

    python -m crawler.mirror generate OUT [--portals N] [--articles N] [--seed S]
    python -m crawler.mirror serve SITE_ROOT [--port P]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

logger = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        from crawler.mirror.server import main as serve_main

        return serve_main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m crawler.mirror", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="write a synthetic mirror (site/, portals.yaml, truth.jsonl)")
    gen.add_argument("out", type=Path, help="output folder")
    gen.add_argument("--portals", type=int, default=4, help="number of portals (default 4)")
    gen.add_argument("--articles", type=int, default=12, help="articles per portal (default 12)")
    gen.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    gen.add_argument("--host-prefix", default="127.0.2.", help="host address prefix (default 127.0.2.)")
    sub.add_parser("serve", help="serve a mirror's site folder on loopback (see 'serve --help')")
    args = parser.parse_args(argv)
    from crawler.mirror.generator import generate_mirror

    started = time.perf_counter()
    try:
        info = generate_mirror(args.out, portals=args.portals, articles_per_portal=args.articles, seed=args.seed,
                               host_prefix=args.host_prefix)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(info.hosts)} portals, {info.articles} articles, {info.pages} pages to {info.root} "
          f"in {time.perf_counter() - started:.2f}s")
    print(f"registry: {info.registry_path}\ntruth:    {info.truth_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
