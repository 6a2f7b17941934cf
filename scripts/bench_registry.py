"""Benchmark: loading a big registry, and refusing a YAML bomb.

Writes a registry of about ``--mb`` megabytes (default 10: some 37,000 portals) and a
440-byte "billion laughs" registry, then loads each in a child process of its own and
reports wall time and peak RSS.  Baseline, measured in the same run on the same file:
PyYAML's own ``yaml.load(..., CSafeLoader)`` (libyaml, the fastest stock parse), which only
parses and validates nothing.

    python scripts/bench_registry.py [--mb 10] [--keep DIR]

Targets (issue 10): the 10 MB registry in under 10 s and 300 MB, the bomb refused in under
1 s and 100 MB.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BOMB = "".join(
    f"{name}: &{name} [{', '.join([prev] * 9)}]\n"
    for name, prev in zip("abcdefghi", ['"lol"', "*a", "*b", "*c", "*d", "*e", "*f", "*g", "*h"], strict=True)
) + "portals:\n  - {id: bomb, name: *i, level: province, province: P, url: 'https://a.gov.vn/'}\n"

_CHILD = r"""
import json, resource, sys, time
what, path = sys.argv[1], sys.argv[2]
import yaml
from crawler.registry import RegistryError, load_registry
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
t, c = time.perf_counter(), cpu()  # after the imports: the load alone
if what == "baseline":
    data = yaml.load(open(path, encoding="utf-8").read(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    out = {"portals": len(data["portals"])}
else:
    try:
        reg = load_registry(path)
        out = {"portals": len(reg.portals), "problems": len(reg.problems)}
    except RegistryError as exc:
        out = {"refused": str(exc)[-160:]}
out["seconds"] = round(time.perf_counter() - t, 3)
out["cpu_seconds"] = round(cpu() - c, 3)  # steadier than wall time on a busy machine
out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
print(json.dumps(out, ensure_ascii=False))
"""


def write_registry(path: Path, megabytes: float) -> int:
    """A registry of realistic entries, about ``megabytes`` MB; returns the number of portals."""
    target = int(megabytes * 1_000_000)
    size = count = 0
    with path.open("w", encoding="utf-8") as out:
        out.write("portals:\n")
        while size < target:
            entry = (f"  - id: xa-vi-du-{count}\n    name: \"Cổng thông tin điện tử xã Ví Dụ {count}\"\n"
                     f"    level: commune\n    province: \"Phú Yên\"\n    url: https://xa{count}.phuyen.gov.vn/\n"
                     f"    profile: auto\n    every: 6h\n    notes: \"Cổng xã số {count}, kiểm tra lần cuối 2024\"\n")
            out.write(entry)
            size += len(entry.encode("utf-8"))
            count += 1
    return count


def measure(what: str, path: Path, timeout: float = 600) -> dict[str, object]:
    proc = subprocess.run([sys.executable, "-c", _CHILD, what, str(path)], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout)
    if proc.returncode != 0:
        return {"crashed": proc.stderr[-300:]}
    result: dict[str, object] = json.loads(proc.stdout)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--mb", type=float, default=10.0, help="registry size in MB (default 10)")
    parser.add_argument("--keep", metavar="DIR", help="write the files here instead of a temporary folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        big = folder / "big.yaml"
        portals = write_registry(big, args.mb)
        bomb = folder / "bomb.yaml"
        bomb.write_text(BOMB, "utf-8")
        print(f"registry: {big.stat().st_size / 1e6:.1f} MB, {portals} portals; bomb: {bomb.stat().st_size} bytes")
        rows = [
            ("baseline yaml.load(CSafeLoader), big", measure("baseline", big)),
            ("portalnews load_registry, big", measure("registry", big)),
            ("portalnews load_registry, bomb", measure("registry", bomb)),
        ]
    for name, result in rows:
        print(f"{name:40s} {json.dumps(result, ensure_ascii=False)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
