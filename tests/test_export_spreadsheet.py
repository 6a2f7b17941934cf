"""A CSV export opens in LibreOffice Calc with the Vietnamese intact (issue 11, item 7).

``portalnews export --format csv`` writes a UTF-8 byte-order mark (Excel needs it to read the
file as UTF-8).  The test converts the export with ``soffice --headless --convert-to xlsx``
with the character set left to the system (``--infilter=CSV:44,34,SYSTEM`` in a UTF-8 locale,
what a Linux desktop's Calc offers), then reads the workbook back: the header (the byte-order
mark is not glued to the first column's name), every Vietnamese cell and the province, level
and date-precision columns are what Python's ``csv`` reads with ``utf-8-sig``, and a crawled
string that starts like a formula stays text.

Measured with LibreOffice 7.4.7 (Debian 12): without ``--infilter`` the headless conversion
reads any CSV as Windows-1252 whatever its byte-order mark, and with the system character set
in a non-UTF-8 locale it ignores the mark too; so the test names the import options rather than
relying on a default that would show mojibake for every UTF-8 file.  Skipped when LibreOffice is
not installed (``apt-get install libreoffice-calc-nogui``).
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import pytest

from crawler.cli import main as cli_main
from pipelines.storage import Document
from pipelines.storage.sqlite import SQLiteStore
from tests.conftest import skip_or_fail

NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
CRAWLED = "2026-01-01T00:00:00+00:00"
#: Columns compared cell by cell (dates and numbers are a spreadsheet's to format).
TEXT_COLUMNS = ("url", "portal_id", "title", "body", "summary", "author", "category", "date_precision", "province",
                "current_province", "level", "portal_name")
DOCS = [
    Document(url="http://127.0.0.1/tin/1.html", portal_id="son-hoa", title="Hội nghị tổng kết năm 2025 của Ủy ban",
             body="UBND huyện Sơn Hòa tổ chức hội nghị; thuỷ lợi, hoà giải, xoá đói giảm nghèo.",
             published_at="2025-12-20T08:00:00+07:00", view_count=1234, province="Phú Yên", level="district",
             category="Tin tức – Sự kiện", author="Nguyễn Thị Ánh Tuyết", date_precision="minute",
             crawled_at=CRAWLED, summary="Tóm tắt: Đắk Lắk, Bình Định", portal_name="Cổng TTĐT huyện Sơn Hòa"),
    Document(url="http://127.0.0.1/tin/2.html", portal_id="dong-tien", title="=HYPERLINK(\"http://x\";\"Đồng Tiến\")",
             body="Xã Đồng Tiến khánh thành cầu dân sinh.\nDòng thứ hai, có dấu phẩy và \"ngoặc kép\".",
             published_at="2024-03-01T00:00:00+07:00", view_count=None, province="Hà Giang", level="commune",
             category="Kinh tế", date_precision="day", crawled_at=CRAWLED),
]


def _soffice() -> str:
    found = shutil.which("soffice") or shutil.which("libreoffice")
    if found is None:
        skip_or_fail("SPREADSHEET", "LibreOffice is not installed (apt-get install libreoffice-calc-nogui)")
    return found


def _column(ref: str) -> int:
    letters = re.match(r"[A-Z]+", ref)
    assert letters, ref
    n = 0
    for c in letters.group():
        n = n * 26 + ord(c) - 64
    return n - 1


def read_xlsx(path: Path) -> tuple[list[list[str]], int]:
    """The first sheet's rows as text, and how many cells hold a formula."""
    with zipfile.ZipFile(path) as z:
        shared: list[str] = []
        if "xl/sharedStrings.xml" in z.namelist():
            for si in ElementTree.fromstring(z.read("xl/sharedStrings.xml")).findall("m:si", NS):
                shared.append("".join(t.text or "" for t in si.iter(f"{{{NS['m']}}}t")))
        sheet = ElementTree.fromstring(z.read("xl/worksheets/sheet1.xml"))
    rows: list[list[str]] = []
    formulas = 0
    for row in sheet.iter(f"{{{NS['m']}}}row"):
        cells: list[str] = []
        for c in row.findall("m:c", NS):
            formulas += c.find("m:f", NS) is not None
            v = c.find("m:v", NS)
            inline = c.find("m:is", NS)
            if c.get("t") == "s" and v is not None:
                text = shared[int(v.text or 0)]
            elif inline is not None:
                text = "".join(t.text or "" for t in inline.iter(f"{{{NS['m']}}}t"))
            else:
                text = v.text or "" if v is not None else ""
            i = _column(c.get("r", "A"))
            cells.extend([""] * (i - len(cells)))
            cells.append(text)
        rows.append(cells)
    return rows, formulas


def test_csv_export_opens_in_libreoffice_with_vietnamese_intact(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    soffice = _soffice()
    store = SQLiteStore(tmp_path / "s.db")
    store.open()
    store.upsert_documents(DOCS)
    store.close()
    export = tmp_path / "export.csv"
    assert cli_main(["export", "--format", "csv", "-o", str(export), "--store", f"sqlite:///{tmp_path / 's.db'}"]) == 0
    capsys.readouterr()
    raw = export.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    expected = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    header = expected[0]
    assert {"province", "level", "date_precision"} <= set(header)

    out = tmp_path / "out"
    env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
    proc = subprocess.run([soffice, f"-env:UserInstallation=file://{tmp_path / 'lo-profile'}", "--headless",
                           "--infilter=CSV:44,34,SYSTEM", "--convert-to", "xlsx", "--outdir", str(out), str(export)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    rows, formulas = read_xlsx(out / "export.xlsx")
    assert rows[0] == header  # the byte-order mark is not part of the first column's name
    assert formulas == 0
    assert len(rows) == len(expected) == len(DOCS) + 1
    for want, got in zip(expected[1:], rows[1:], strict=True):
        for name in TEXT_COLUMNS:
            i = header.index(name)
            assert (got[i] if i < len(got) else "") == want[i], name
    by_url = {r[header.index("url")]: r for r in rows[1:]}
    first = by_url[DOCS[0].url]
    assert first[header.index("title")] == "Hội nghị tổng kết năm 2025 của Ủy ban"
    assert first[header.index("author")] == "Nguyễn Thị Ánh Tuyết"
    assert first[header.index("level")] == "district" and first[header.index("date_precision")] == "minute"
    assert first[header.index("province")] == "Phú Yên"
    second = by_url[DOCS[1].url]
    assert second[header.index("title")].endswith("\"Đồng Tiến\")") and not second[header.index("title")].startswith("=")
    assert second[header.index("body")] == DOCS[1].body
