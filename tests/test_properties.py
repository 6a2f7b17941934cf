"""Properties of the pure functions that face untrusted input (issue 10), checked with Hypothesis.

Each property states something a user relies on.  Example counts come from the Hypothesis
profile in tests/conftest.py (bounded, so ``make test`` stays fast; derandomised in CI).

* dates: parsing never raises, and no parsed publication date lies before 1990 or after the
  day after the page was fetched;
* numbers: parsing never raises, "1.234" / "1,234" / "1 234" mean 1234, a labelled count is read;
* text: normalising never leaves a control character, is NFC, and normalising twice changes nothing;
* URLs: canonicalising twice changes nothing, a canonical URL stays in its origin, and the
  crawl's scope lets no link out of a portal's origin (scheme + host + port);
* output: no CSV cell starts with a formula character, CSV round-trips the data, snippets
  and terminal text carry no live markup or control characters;
* registry: loading any file or any data raises nothing but RegistryError.
"""

from __future__ import annotations

import contextlib
import csv
import html
import io
import json
import re
import string
import unicodedata
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from crawler import links
from crawler.middlewares.scope import OriginScope
from crawler.registry import Portal, RegistryError, load_registry, parse_registry
from pipelines.normalize.dates import VN_TZ, find_datetimes, parse_iso_datetime, parse_vietnamese_datetime
from pipelines.normalize.numbers import find_view_count, parse_count
from pipelines.normalize.text import normalize_paragraphs, normalize_text
from pipelines.output import FORMULA_STARTS, CsvWriter, json_line, snippet_html, snippet_text, terminal_text
from pipelines.search.highlight import MARK_END, MARK_START

C0_C1 = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")

# --- dates ------------------------------------------------------------------------------------
LABELS = ["", "Ngày đăng: ", "Đăng ngày ", "Cập nhật lúc ", "Thứ tư, ", "ngày ", "Posted ", "Xuất bản "]
fetch_times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC))


@st.composite
def date_texts(draw: st.DrawFn) -> str:
    """Text shaped like the dates portals print, with numbers anywhere in range and beyond."""
    d, m = draw(st.integers(0, 40)), draw(st.integers(0, 15))
    y = draw(st.one_of(st.integers(1850, 2200), st.integers(0, 99)))
    h, mi = draw(st.integers(0, 30)), draw(st.integers(0, 70))
    sep = draw(st.sampled_from(["/", "-", ".", " - "]))
    forms = [f"{d}{sep}{m}{sep}{y}", f"{d}{sep}{m}{sep}{y} {h}:{mi:02d}", f"{h}:{mi:02d} {d}/{m}/{y}",
             f"ngày {d} tháng {m} năm {y}", f"{d} tháng {m}, {y}", f"{y}-{m:02d}-{d:02d}T{h:02d}:{mi:02d}:00+07:00",
             f"{h} giờ trước", "hôm qua, 16:45", f"{d} ngày trước", f"{mi} phút trước", "3 days ago"]
    noise = draw(st.text(max_size=20))
    return draw(st.sampled_from(LABELS)) + draw(st.sampled_from(forms)) + draw(st.sampled_from(["", " | ", noise]))


@given(st.one_of(date_texts(), st.text(max_size=200)), fetch_times)
@example("Ngày đăng: 12/05/2099", datetime(2026, 12, 1, tzinfo=UTC))
@example("Ngày đăng: 01/01/1989", datetime(2026, 12, 1, tzinfo=UTC))
def test_no_parsed_date_before_1990_or_after_the_day_after_the_fetch(text: str, now: datetime) -> None:
    latest = now + timedelta(days=1)
    earliest = datetime(1990, 1, 1, tzinfo=VN_TZ)
    for match in find_datetimes(text, now):
        assert earliest <= match.value <= latest, (text, match)
    parsed = parse_vietnamese_datetime(text, now)
    if parsed is not None:
        value, precision = parsed
        assert value.tzinfo is not None and precision in {"day", "hour", "minute", "second"}
        assert earliest <= value <= latest, (text, value)
        assert value.utcoffset() == timedelta(hours=7)


@given(st.one_of(date_texts(), st.text(max_size=60), st.from_regex(r"\A\d{4}-\d\d-\d\d(T\d\d:\d\d(:\d\d)?)?\Z")),
       fetch_times)
@example("2099-05-12T08:00:00+07:00", datetime(2026, 12, 1, tzinfo=UTC))
@example("2099-05-12", datetime(2026, 12, 1, tzinfo=UTC))
def test_machine_readable_dates_stay_in_range_too(text: str, now: datetime) -> None:
    parsed = parse_iso_datetime(text, now)
    if parsed is not None:
        assert datetime(1990, 1, 1, tzinfo=VN_TZ) <= parsed[0] <= now + timedelta(days=1), (text, parsed)
        assert parsed[0].utcoffset() == timedelta(hours=7)


@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2030, 12, 31)), st.sampled_from(LABELS[:3]))
def test_a_labelled_past_date_is_read_as_printed(day: date, label: str) -> None:
    now = datetime(2031, 1, 1, tzinfo=UTC)
    parsed = parse_vietnamese_datetime(f"{label}{day:%d/%m/%Y}", now)
    assert parsed is not None and parsed[0].date() == day, parsed


# --- numbers ----------------------------------------------------------------------------------
def grouped(n: int, sep: str) -> str:
    return f"{n:,}".replace(",", sep)


@given(st.text(max_size=40))
def test_count_parsing_never_raises_and_is_never_negative(text: str) -> None:
    count = parse_count(text)
    assert count is None or count >= 0
    found = find_view_count(text)
    assert found is None or (found[0] >= 0 and 0 <= found[1] < len(text))


@given(st.integers(0, 10**12), st.sampled_from([".", ",", " ", "\u00a0", "\u202f"]))
def test_thousands_separators_mean_thousands(n: int, sep: str) -> None:
    assert parse_count(grouped(n, sep)) == n
    assert parse_count(str(n)) == n


@given(st.integers(0, 10**9), st.sampled_from(["Lượt xem: {}", "Số lượt xem {}", "{} lượt xem", "Views: {}",
                                               "(Lượt đọc: {})", "Đã xem: {}"]),
       st.sampled_from([".", ","]))
def test_a_labelled_view_count_is_read(n: int, form: str, sep: str) -> None:
    found = find_view_count("Tin tức | " + form.format(grouped(n, sep)) + " | Chia sẻ")
    assert found is not None and found[0] == n, found


# --- text -------------------------------------------------------------------------------------
hostile_text = st.one_of(
    st.text(max_size=120),
    st.lists(st.sampled_from(["Thông báo", "\x1b]0;pwn\x07", "\x1b[2J", "\u0301", "o\u0302\u0301", "&ocirc;",
                              "&amp;lt;", "\u200b", "\u202e", "\r\n", "\x85", "\u2028", " ", "\t", "\x00", "\x9b",
                              "<b>", "&#27;", "&#x9b;", "&#0;"]), max_size=12).map("".join),
)


@given(hostile_text)
@example("&#27;]0;pwn&#7;")
def test_normalised_text_is_clean_nfc_and_stable(text: str) -> None:
    once = normalize_text(text)
    assert not C0_C1.search(once) and "\n" not in once and "\t" not in once, repr(once)
    assert unicodedata.is_normalized("NFC", once), repr(once)
    assert once == once.strip()
    # text from the DOM (entities already decoded) is normalised again by later stages
    assert normalize_text(once, decode_entities=False) == once
    raw = normalize_text(text, decode_entities=False)
    assert normalize_text(raw, decode_entities=False) == raw


@given(st.one_of(hostile_text, st.lists(hostile_text, max_size=5)))
def test_normalised_paragraphs_are_clean_nfc_and_stable(parts: str | list[str]) -> None:
    once = normalize_paragraphs(parts)
    assert not C0_C1.search(once), repr(once)
    assert unicodedata.is_normalized("NFC", once), repr(once)
    assert all(line and line == line.strip() for line in once.split("\n")) or once == ""
    assert normalize_paragraphs(once, decode_entities=False) == once


# --- URLs and scope ---------------------------------------------------------------------------
hosts = st.one_of(
    st.from_regex(r"\A(www\.)?[a-z][a-z0-9-]{0,12}\.(gov\.vn|vn|example)\Z"),
    st.sampled_from(["127.0.0.1", "XA.Example", "bộ.example", "[::1]", "xn--b-8xm.example"]),
)
url_chars = string.ascii_letters + string.digits + "-._~:/?#[]@!$&'()*+,;=% <>\"{}|\\^`" + "àđươ\u0301"
paths = st.text(alphabet=url_chars, max_size=40)


@st.composite
def portal_origins(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["http", "https"]))
    port = draw(st.sampled_from(["", ":80", ":443", ":8080", ":65535"]))
    return f"{scheme}://{draw(hosts)}{port}"


@given(portal_origins(), paths)
@example("http://xa.example", "/a?utm_source=x&b=1#frag")
@example("http://xa.example:80", "/tin?page=2&sid=abc")
def test_a_canonical_url_is_stable_and_stays_in_its_origin(base: str, path: str) -> None:
    url = links.absolutize(base + "/", path)
    assume(url is not None)
    assert url is not None
    home = links.origin(base + "/")
    assert links.origin(url) == home, (base, path, url)
    canon = links.canonical(url)
    assert links.canonical(canon) == canon
    assert links.origin(canon) == home, (url, canon)
    assert links.clean_url(links.clean_url(url)) == links.clean_url(url)


@given(portal_origins(), st.one_of(paths, portal_origins().map(lambda o: o + "/x"),
                                   st.sampled_from(["file:///etc/passwd", "ftp://xa.example/", "javascript:alert(1)",
                                                    "//evil.example/", "http://xa.example@evil.example/",
                                                    "http://xa.example.evil.example/", "https://xa.example:444/"])))
def test_the_scope_lets_no_link_out_of_the_portal_origin(base: str, href: str) -> None:
    scope = OriginScope([Portal(id="xa", name="Xã", level="commune", province="Phú Yên", url=base + "/")])
    home = links.origin(base + "/")
    url = links.absolutize(base + "/tin/1.html", href)
    if url is not None and scope.allows("xa", url):
        parts = links.origin(url)
        assert parts == home, (base, href, url)


# --- output -----------------------------------------------------------------------------------
cells = st.one_of(st.text(max_size=30), st.integers(), st.floats(allow_nan=False),
                  st.sampled_from(["=HYPERLINK(\"http://x\")", "@SUM(A1)", "+SUM(1)", "-1+2", "\t=1", "\r=1"]))


@given(st.lists(st.lists(cells, min_size=1, max_size=6), min_size=1, max_size=5))
def test_no_csv_cell_starts_with_a_formula_character(rows: list[list[Any]]) -> None:
    out = io.StringIO()
    writer = CsvWriter(out)
    for row in rows:
        writer.writerow(row)
    read = list(csv.reader(io.StringIO(out.getvalue())))
    assert len(read) == len(rows)
    for got, row in zip(read, rows, strict=True):
        for cell, value in zip(got, row, strict=True):
            text = str(value)
            if isinstance(value, str):  # numbers stay numbers ("-1" is not a formula)
                assert not cell.startswith(FORMULA_STARTS), cell
                assert cell in (text, "'" + text), (cell, value)
            else:
                assert cell == text, (cell, value)


@given(st.text(max_size=80), st.lists(st.text(max_size=10), max_size=3))
def test_snippets_carry_no_live_markup(text: str, marked: list[str]) -> None:
    snippet = text + "".join(f"{MARK_START}{m}{MARK_END}" for m in marked)
    shown = snippet_html(snippet)
    assert re.sub(r"</?mark>", "", shown).count("<") == 0, shown
    assert html.unescape(re.sub(r"</?mark>", "", shown)) == snippet_text(snippet)


@given(st.text(max_size=80), st.booleans())
def test_terminal_text_has_no_control_characters(text: str, multiline: bool) -> None:
    shown = terminal_text(text, multiline=multiline)
    assert not C0_C1.search(shown.replace("\n", "").replace("\t", "") if multiline else shown), repr(shown)
    assert not re.search("[\u202a-\u202e\u2066-\u2069]", shown)


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=20))
def test_json_lines_round_trip_without_raw_controls(data: Any) -> None:
    line = json_line(data)
    assert json.loads(line) == data
    assert "\n" not in line and not re.search("[\x00-\x1f\x7f-\x9f\u2028\u2029]", line)


# --- registry ---------------------------------------------------------------------------------
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=30),
                    st.sampled_from(["http://xa.example/", "http://169.254.169.254/", "http://[::1", "http://x:99999/",
                                     "{PORT}", "5s", "0s", "1h", "commune", "province"]))
entries = st.dictionaries(st.sampled_from(["id", "name", "level", "province", "url", "every", "enabled", "notes",
                                           "start_urls", "max_pages", "profile", "evry", "verified"]),
                          st.one_of(scalars, st.lists(scalars, max_size=3)), max_size=8)
registries = st.one_of(st.lists(entries, max_size=4), st.fixed_dictionaries({"portals": st.lists(entries, max_size=4)}),
                       scalars, st.dictionaries(st.text(max_size=5), scalars, max_size=3))


@given(registries)
@example({"portals": [{"id": "xa", "name": "Xã", "level": "commune", "province": "Phú Yên",
                       "url": "http://xa.example/", "every": "5m"}]})
def test_registry_data_raises_nothing_but_registry_error(data: Any) -> None:
    try:
        registry = parse_registry(data, allow_private_hosts=False, min_every=60)
    except RegistryError:
        return
    for portal in registry.portals:
        assert links.origin(portal.url) is not None, portal.url


@given(st.one_of(st.binary(max_size=300),
                 st.text(alphabet="portals:-{}[]&*!<>| \n\t'\"#idurl:/.\\%@`,?=~", max_size=200).map(str.encode)))
@example(b"portals: &a [*a]\n")
@example(b"\xff\xfe p")
@example(b"portals:\n  - !!python/object:os.system {}\n")
def test_registry_files_raise_nothing_but_registry_error(tmp_path_factory: pytest.TempPathFactory,
                                                         content: bytes) -> None:
    path: Path = tmp_path_factory.mktemp("registry") / "portals.yaml"
    path.write_bytes(content)
    with contextlib.suppress(RegistryError):
        load_registry(path, allow_private_hosts=False, min_every=60)


def test_an_extracted_article_is_never_dated_after_its_fetch() -> None:
    """The bug the date property found, end to end: a meta tag or a printed date years ahead
    (a typo: 2099 for 2009) gave the article that date, and sorted it first for ever."""
    from pipelines.extract.api import extract_page
    from tests.loopback_site import article

    printed = article("Hội nghị triển khai nhiệm vụ", 1).decode().replace("11/03/2025 08:11", "12/05/2099 08:00")
    meta = article("Hội nghị triển khai nhiệm vụ", 1).decode().replace("Ngày đăng: 11/03/2025 08:11", "").replace(
        "</title>", '</title><meta property="article:published_time" content="2099-05-12T08:00:00+07:00">')
    for source in (printed, meta):
        page = extract_page(source, "http://xa.example/tin/1.html", fetched_at="2026-12-01T00:00:00+00:00")
        assert page.published_at is None, page.published_at
        then = extract_page(source, "http://xa.example/tin/1.html", fetched_at="2099-06-01T00:00:00+00:00")
        assert then.published_at == "2099-05-12T08:00:00+07:00", then.published_at
