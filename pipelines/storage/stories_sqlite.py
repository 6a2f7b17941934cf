"""Stories on SQLite: the ``story_*`` columns of ``documents`` and the ``story_bands`` table.

A new document gets its signature (:func:`pipelines.stories.make_signature` of its body, or
the one the extraction worker made of it: :func:`pipelines.stories.signature_of`),
its band keys in ``story_bands(band, rid)`` and ``story_pending = 1`` when it is first
stored (:func:`add_document`); until it is reconciled it is a story of its own.
:class:`SQLiteStoryTables` answers :class:`pipelines.stories.reconcile.StoryTables` with
SQL on one connection; :func:`reconcile_sqlite` runs the shared algorithm one batch per
``BEGIN IMMEDIATE`` transaction, so that two processes reconciling at once queue instead of
making two stories of one.  A document's signature is fixed when it is first stored (as in
:class:`pipelines.stories.StoryIndex`).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence

from pipelines.storage.base import Document
from pipelines.stories import Signature, SignatureParams, StoryFields, band_keys, make_signature, signature_of
from pipelines.stories.reconcile import ReconcileReport, StoredStoryDoc, reconcile, reconcile_batch

logger = logging.getLogger(__name__)

__all__ = ["SQLiteStoryTables", "add_document", "add_unsigned", "reconcile_sqlite", "sign_all", "sign_unsigned"]

#: ``store_meta`` key: the ``rid`` of the first document a bulk load left unsigned (absent: none).
_UNSIGNED_FROM = "stories_unsigned_from"
#: SQLite's default limit of host parameters is 32,766 (3.32+); stay well below it.
_CHUNK = 900


#: Pending documents reconciled per ``BEGIN IMMEDIATE`` transaction.  Each batch loads the
#: signatures of every candidate outside it, which on a template-heavy crawl is nearly every
#: earlier document: 2,000 a batch instead of the engines' 500
#: (:data:`pipelines.stories.reconcile.BATCH`, one lease renewal each) reconciled the 5,200
#: bench articles in 0.55 ms of CPU a document instead of 0.79, with the same stories (they do
#: not depend on batching); a batch holds the store's write lock for about a second then.
SQLITE_BATCH = 2000


def _chunks(items: Sequence[str], size: int = _CHUNK) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def add_document(conn: sqlite3.Connection, rid: int, doc: Document, params: SignatureParams | None = None) -> None:
    """A document stored for the first time: its signature, bands, pending, a story of its own."""
    signature = signature_of(doc.body, doc.story_signature, params)
    conn.execute("UPDATE documents SET story_signature = ?, story_id = id, story_size = 1, is_source = 1,"
                 " story_pending = 1 WHERE rid = ?", (signature.to_bytes(), rid))
    conn.executemany("INSERT OR IGNORE INTO story_bands(band, rid) VALUES (?, ?)",
                     [(band, rid) for band in band_keys(signature, params)])
    doc.story_id, doc.story_size, doc.is_source = doc.id, 1, True


def add_unsigned(conn: sqlite3.Connection, rid: int, doc: Document) -> None:
    """A document stored for the first time by a bulk load that leaves stories for later
    (``portalnews import --stories later``): a story of its own, without a signature and not
    pending; :func:`sign_unsigned` (at the next reconciliation) signs it and makes it pending."""
    conn.execute("UPDATE documents SET story_id = id, story_size = 1, is_source = 1 WHERE rid = ?", (rid,))
    # where signing starts again (the first such document; a crawl's reconciliation reads one row)
    conn.execute("INSERT OR IGNORE INTO store_meta(key, value) VALUES (?, ?)", (_UNSIGNED_FROM, str(rid)))
    doc.story_id, doc.story_size, doc.is_source = doc.id, 1, True


def _sign_rows(conn: sqlite3.Connection, rows: Sequence[sqlite3.Row], params: SignatureParams | None) -> None:
    for row in rows:
        signature = make_signature(row[1], params)
        conn.execute("UPDATE documents SET story_signature = ?, story_id = COALESCE(story_id, id),"
                     " story_size = COALESCE(story_size, 1), is_source = COALESCE(is_source, 1),"
                     " story_pending = 1 WHERE rid = ?", (signature.to_bytes(), row[0]))
        conn.executemany("INSERT OR IGNORE INTO story_bands(band, rid) VALUES (?, ?)",
                         [(band, row[0]) for band in band_keys(signature, params)])


def sign_all(conn: sqlite3.Connection, params: SignatureParams | None = None, batch: int = 2000) -> int:
    """Every document without a signature gets one (the migration to schema 4); the number."""
    n = 0
    while rows := conn.execute("SELECT rid, body FROM documents WHERE story_signature IS NULL LIMIT ?",
                               (batch,)).fetchall():
        _sign_rows(conn, rows, params)
        n += len(rows)
    return n


def sign_unsigned(immediate: Callable[[], contextlib.AbstractContextManager[sqlite3.Connection]],
                  params: SignatureParams | None = None, batch: int = 2000) -> int:
    """Like :func:`sign_all`, one ``BEGIN IMMEDIATE`` transaction a batch, in ``rid`` order (a
    bulk load of a million documents is signed without holding the write lock for hours or
    scanning the signed rows again); the number signed."""
    with immediate() as conn:
        row = conn.execute("SELECT value FROM store_meta WHERE key = ?", (_UNSIGNED_FROM,)).fetchone()
    if row is None:
        return 0
    n, last = 0, int(row[0]) - 1
    while True:
        with immediate() as conn:
            rows = conn.execute("SELECT rid, body FROM documents WHERE rid > ? AND story_signature IS NULL"
                                " ORDER BY rid LIMIT ?", (last, batch)).fetchall()
            if not rows:
                conn.execute("DELETE FROM store_meta WHERE key = ?", (_UNSIGNED_FROM,))
                return n
            _sign_rows(conn, rows, params)
        n += len(rows)
        last = int(rows[-1][0])


def _doc(row: sqlite3.Row, with_signature: bool) -> StoredStoryDoc:
    signature = None
    if with_signature and row["story_signature"] is not None:
        try:
            signature = Signature.from_bytes(bytes(row["story_signature"]))
        except ValueError as exc:  # another version of the signature: the document is left out
            logger.warning("document %s: %s", row["id"], exc)
    return StoredStoryDoc(key=row["id"], published_at=row["published_at"], day_only=row["date_precision"] == "day",
                          story_id=row["story_id"], story_size=row["story_size"],
                          is_source=None if row["is_source"] is None else bool(row["is_source"]),
                          signature=signature)


_FIELDS = "id, published_at, date_precision, story_id, story_size, is_source"


class SQLiteStoryTables:
    """:class:`pipelines.stories.reconcile.StoryTables` on one connection (inside a transaction)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        # Memos for one batch (one transaction: the band table and the ids do not change under
        # them).  The pending documents of a batch share most of their band keys and candidates:
        # on a template-heavy crawl (5,200 articles, 3.6 million candidates) the per-band queries
        # and rid -> id look-ups were 60 % of the reconciliation.
        self._band_rids: dict[int, list[int]] = {}
        self._ids: dict[int, str] = {}

    def pending(self, limit: int) -> list[StoredStoryDoc]:
        rows = self.conn.execute(f"SELECT {_FIELDS}, story_signature FROM documents WHERE story_pending = 1"
                                 " ORDER BY rid LIMIT ?", (limit,)).fetchall()
        return [_doc(r, True) for r in rows]

    def candidates(self, bands: Sequence[int], max_docs: int) -> set[str]:
        return set().union(*self.band_members(bands, max_docs).values())

    def band_members(self, bands: Sequence[int], max_docs: int) -> dict[int, list[str]]:
        """The keys of each band's documents (a band of more than ``max_docs``, or of none, is
        left out): what :func:`~pipelines.stories.reconcile.reconcile_batch` asks once a batch."""
        kept: dict[int, list[int]] = {}
        for band in bands:  # at most max_docs + 1 index entries read a band
            found = self._band_rids.get(band)
            if found is None:
                found = self._band_rids[band] = [r[0] for r in self.conn.execute(
                    "SELECT rid FROM story_bands WHERE band = ? LIMIT ?", (band, max_docs + 1))]
            if found and len(found) <= max_docs:
                kept[band] = found
        ids = self._ids
        missing = sorted({rid for rids in kept.values() for rid in rids if rid not in ids})
        for i in range(0, len(missing), _CHUNK):
            chunk = missing[i:i + _CHUNK]
            ids.update(self.conn.execute(
                f"SELECT rid, id FROM documents WHERE rid IN ({', '.join('?' * len(chunk))})", chunk))
        return {band: [ids[rid] for rid in rids if rid in ids] for band, rids in kept.items()}

    def signed(self, keys: Sequence[str]) -> dict[str, StoredStoryDoc]:
        out: dict[str, StoredStoryDoc] = {}
        for chunk in _chunks(keys):
            for r in self.conn.execute(f"SELECT {_FIELDS}, story_signature FROM documents"
                                       f" WHERE id IN ({', '.join('?' * len(chunk))})", list(chunk)):
                out[r["id"]] = _doc(r, True)
        return out

    def members(self, story_ids: Sequence[str]) -> list[StoredStoryDoc]:
        out: list[StoredStoryDoc] = []
        for chunk in _chunks(story_ids):
            out.extend(_doc(r, False) for r in self.conn.execute(
                f"SELECT {_FIELDS} FROM documents WHERE story_id IN ({', '.join('?' * len(chunk))})", list(chunk)))
        return out

    def write(self, fields: Mapping[str, StoryFields], done: Sequence[str]) -> None:
        self.conn.executemany("UPDATE documents SET story_id = ?, story_size = ?, is_source = ? WHERE id = ?",
                              [(f.story_id, f.story_size, int(f.is_source), key) for key, f in fields.items()])
        self.conn.executemany("UPDATE documents SET story_pending = NULL WHERE id = ?", [(k,) for k in done])


def reconcile_sqlite(immediate: Callable[[], contextlib.AbstractContextManager[sqlite3.Connection]],
                     limit: int = SQLITE_BATCH) -> ReconcileReport:
    """Every pending document, one ``BEGIN IMMEDIATE`` transaction a batch (``immediate``);
    first, the documents a bulk load left unsigned are signed and become pending."""

    @contextlib.contextmanager
    def batch() -> Iterator[SQLiteStoryTables]:
        with immediate() as conn:
            yield SQLiteStoryTables(conn)

    signed = sign_unsigned(immediate)
    report = reconcile(batch, limit)
    if signed:
        report.notes.append(f"signed {signed} document(s) loaded without their story signature")
    return report


def reconcile_in(conn: sqlite3.Connection, limit: int = SQLITE_BATCH) -> ReconcileReport:
    """Every pending document, in the caller's transaction (the migration to schema 4)."""
    total = ReconcileReport()
    tables = SQLiteStoryTables(conn)
    while (report := reconcile_batch(tables, limit)).batches:
        total.add(report)
    return total
