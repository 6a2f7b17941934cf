"""On-disk spool: records the search engine did not take, kept until they are sent.

When the engine is unreachable or rejects a batch, the batch's documents, page records
and run records are written to a JSON-lines file in the spool folder (default
``data/spool/<store>/``).  Each file is written atomically (temporary file, fsync,
rename), so a crash leaves either a whole file or none.  Files are replayed in the order
they were written and removed only after every record in them was sent.

Records the engine refused for a reason that a retry cannot fix (a 4xx per-document
error such as a mapping conflict) go to ``rejected-*.jsonl`` files with the error next
to each record: they are retried only when a crawl starts, and count as unsent until
they are sent or the file is deleted by hand.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import logging
import os
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pipelines.storage.base import Document, PageRecord, RunRecord, redact_url

logger = logging.getLogger(__name__)

Record = Document | PageRecord | RunRecord

_TYPES = {"document": Document, "page": PageRecord, "run": RunRecord}
_SEQ = itertools.count()
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def record_type(record: Record) -> str:
    if isinstance(record, Document):
        return "document"
    if isinstance(record, PageRecord):
        return "page"
    return "run"


def encode(record: Record, error: str | None = None) -> str:
    data = record.to_dict() if isinstance(record, Document) else asdict(record)
    line: dict[str, Any] = {"type": record_type(record), "data": data}
    if error:
        line["error"] = error
    return json.dumps(line, ensure_ascii=False)


def decode(line: str) -> Record:
    obj = json.loads(line)
    kind, data = obj["type"], obj["data"]
    if kind == "document":
        return Document.from_dict(data)
    cls = _TYPES[kind]
    return cls(**data)  # type: ignore[no-any-return]


def spool_dir_name(store_url: str) -> str:
    """A folder name for a store URL, without credentials: ``opensearch_127.0.0.1_9200``."""
    name = _UNSAFE.sub("_", redact_url(store_url).replace(":***@", "@").split("@")[-1]).strip("_")
    scheme = store_url.split(":", 1)[0].lower()
    return f"{_UNSAFE.sub('_', scheme)}_{name}"[:150] or "store"


@dataclass
class SpoolCounts:
    documents: int = 0
    pages: int = 0
    runs: int = 0
    files: int = 0
    rejected: int = 0  # records in rejected-*.jsonl (included in the three counts above)

    @property
    def records(self) -> int:
        return self.documents + self.pages + self.runs

    def describe(self) -> str:
        parts = [f"{n} {what}" for n, what in ((self.documents, "documents"), (self.pages, "page records"),
                                               (self.runs, "run records")) if n]
        text = ", ".join(parts) or "nothing"
        return text + (f" ({self.rejected} rejected by the engine)" if self.rejected else "")


class Spool:
    """A folder of spool files.  Several processes may share it: a file being replayed
    is locked, and the others skip it."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def __repr__(self) -> str:
        return f"Spool({str(self.directory)!r})"

    # --- writing ---------------------------------------------------------------------
    def write(self, records: Sequence[Record], errors: Sequence[str | None] | None = None,
              rejected: bool = False, name: str | None = None) -> Path | None:
        """Write ``records`` to a new spool file (or atomically replace ``name``)."""
        if not records:
            return None
        self.directory.mkdir(parents=True, exist_ok=True)
        if name is None:
            name = f"{'rejected-' if rejected else ''}{os.getpid()}-{_now_ns():020d}-{next(_SEQ):06d}.jsonl"
        path = self.directory / name
        tmp = self.directory / f".{name}.{os.getpid()}.tmp"
        errs = list(errors) if errors is not None else [None] * len(records)
        with open(tmp, "w", encoding="utf-8") as fh:
            for record, error in zip(records, errs, strict=True):
                fh.write(encode(record, error) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        self._sync_dir()
        return path

    def _sync_dir(self) -> None:
        with contextlib.suppress(OSError):
            fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    # --- reading ---------------------------------------------------------------------
    def files(self, rejected: bool | None = None) -> list[Path]:
        """Spool files oldest first; ``rejected`` True/False selects one kind, None both."""
        if not self.directory.is_dir():
            return []
        out = []
        for path in self.directory.iterdir():
            if path.name.startswith(".") or path.suffix != ".jsonl":
                continue
            is_rejected = path.name.startswith("rejected-")
            if rejected is None or rejected == is_rejected:
                out.append(path)
        return sorted(out, key=_file_order)

    def read(self, path: Path) -> list[Record]:
        records = []
        with open(path, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    records.append(decode(line))
                except (ValueError, KeyError, TypeError) as exc:
                    logger.error("spool file %s line %d is unreadable and is skipped: %s", path, n, exc)
        return records

    def remove(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        self._sync_dir()

    @contextlib.contextmanager
    def claim(self, path: Path) -> Iterator[bool]:
        """Lock ``path`` for replay; yields False when another process holds it (or it is gone)."""
        try:
            fh = open(path, "rb")  # noqa: SIM115 - held open for the lock's lifetime
        except FileNotFoundError:
            yield False
            return
        try:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                yield False
                return
            yield path.exists()
        finally:
            fh.close()

    def counts(self) -> SpoolCounts:
        counts = SpoolCounts()
        for path in self.files():
            counts.files += 1
            rejected = path.name.startswith("rejected-")
            with contextlib.suppress(OSError), open(path, encoding="utf-8") as fh:
                for line in fh:
                    kind = _line_type(line)
                    if kind == "document":
                        counts.documents += 1
                    elif kind == "page":
                        counts.pages += 1
                    elif kind == "run":
                        counts.runs += 1
                    else:
                        continue
                    if rejected:
                        counts.rejected += 1
        return counts

    def __bool__(self) -> bool:
        return bool(self.files())


def _line_type(line: str) -> str | None:
    # cheap: the type is the first key of every line
    if line.startswith('{"type": "'):
        return line[10:].split('"', 1)[0]
    return None


def _file_order(path: Path) -> tuple[str, str]:
    # "<pid>-<ns>-<seq>.jsonl" or "rejected-<pid>-<ns>-<seq>.jsonl": order by write time
    parts = path.stem.removeprefix("rejected-").split("-")
    return (parts[1] if len(parts) >= 3 else path.stem, path.name)


def _now_ns() -> int:
    return time.time_ns()


def chunks(records: Sequence[Record], size: int) -> Iterable[Sequence[Record]]:
    for i in range(0, len(records), max(1, size)):
        yield records[i:i + size]
