"""``portalnews web`` in real headless Chromium (Debian's ``chromium`` driven by Selenium through
Debian's ``chromedriver``; nothing downloads a browser): an analyst searches, opens a facet,
pages forward, opens an article, exports the result set, and every number on the page is the
one ``/api/search`` gives.  Each step leaves a screenshot in /tmp/web-shots/ (or
``PORTALNEWS_WEB_SHOTS``).  The pages must work under their own Content-Security-Policy: the
browser reports no violation, and no crawled script ever runs (no dialog, no changed title).

Skips only when chromium is absent and ``PORTALNEWS_REQUIRE_BROWSER`` is not set.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from pipelines.storage.base import EXPORT_FIELDS, document_id
from tests.conftest import require_browser, skip_or_fail
from tests.web_support import (
    HOSTILE_URL,
    HOSTILE_VIEWS,
    REPRINT_PORTAL_NAME,
    REPRINT_URL,
    WebStore,
    all_hits,
    get,
    served,
)

CHROMEDRIVER = "/usr/bin/chromedriver"
SHOTS = Path(os.environ.get("PORTALNEWS_WEB_SHOTS", "/tmp/web-shots"))


@pytest.fixture(scope="module")
def base_url(web_store: WebStore) -> Iterator[str]:
    env = {k: v for k, v in os.environ.items() if k != "PORTALNEWS_WEB_TOKEN"}
    with served(web_store.url, env=env) as base:
        yield base


@pytest.fixture(scope="module")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(downloads: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    binary = require_browser()
    driver_path = shutil.which("chromedriver") or (CHROMEDRIVER if Path(CHROMEDRIVER).exists() else None)
    if driver_path is None:
        skip_or_fail("BROWSER", "chromedriver is not installed (apt-get install chromium-driver)")
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must never try to fetch a driver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--hide-scrollbars", "--window-size=1280,1500", "--lang=vi",
                f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        opts.add_argument(arg)
    opts.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                           "download.prompt_for_download": False})
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=opts)
    driver.set_page_load_timeout(60)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()


def shot(driver: Any, name: str) -> Path:
    """Two screenshots under SHOTS: ``NAME-top.png``, what the first screen shows, and
    ``NAME.png``, the whole page (the window grown to the page's height)."""
    driver.set_window_size(1280, 1000)
    top = SHOTS / f"{name}-top.png"
    assert driver.save_screenshot(str(top))
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, max(900, min(int(height) + 40, 6000)))
    path = SHOTS / f"{name}.png"
    assert driver.save_screenshot(str(path))
    assert path.stat().st_size > 10_000, "a blank screenshot"
    driver.set_window_size(1280, 1500)
    return path


def api(base: str, **params: Any) -> dict[str, Any]:
    status, _h, body = get(f"{base}/api/search?{urlencode(params, doseq=True)}")
    assert status == 200, body[:500]
    data: dict[str, Any] = json.loads(body)
    return data


def api_all(base: str, **params: Any) -> list[dict[str, Any]]:
    return all_hits(lambda **p: api(base, **p), **params)


def current_params(driver: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(driver.current_url).query)


def search_params(driver: Any) -> dict[str, Any]:
    """The search of the page in the browser, as /api/search parameters."""
    return {k: (v if k == "portal" else v[0]) for k, v in current_params(driver).items()}


def shown_total(driver: Any) -> tuple[int, int]:
    """(data-total, the number the analyst reads) of the page."""
    from selenium.webdriver.common.by import By

    el = driver.find_element(By.ID, "total")
    text = el.text
    assert el.is_displayed()
    number = int(text.split()[0].replace(".", "")) if text[0].isdigit() else 0
    return int(el.get_attribute("data-total")), number


def hit_ids(driver: Any) -> list[str]:
    from selenium.webdriver.common.by import By

    return [li.get_attribute("data-id") for li in driver.find_elements(By.CSS_SELECTOR, "li.hit")]


def assert_clean_console(driver: Any, status: int | None = None) -> None:
    """No Content-Security-Policy violation, no script error, no crawled script ran (``status``:
    the page itself was answered with that error status, which the console reports)."""
    from selenium.common.exceptions import NoAlertPresentException

    expected = f"the server responded with a status of {status}" if status else None
    problems = [e["message"] for e in driver.get_log("browser")
                if (e["level"] == "SEVERE" or "Content Security Policy" in e["message"])
                and not (expected and expected in e["message"])]
    assert not problems, problems
    assert driver.title != "pwned"
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert  # noqa: B018 (reading it raises when no dialog is open)


def test_an_analyst_searches_narrows_pages_reads_and_exports(browser: Any, base_url: str, downloads: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    d = browser
    # 1. search
    d.get(f"{base_url}/")
    box = d.find_element(By.ID, "q")
    box.send_keys("hội nghị", Keys.ENTER)
    assert current_params(d)["q"] == ["hội nghị"]
    data = api(base_url, **search_params(d))
    assert shown_total(d) == (data["total"], data["total"]) and data["total"] > 40
    assert hit_ids(d) == [h["id"] for h in data["hits"]]
    first_title = d.find_element(By.CSS_SELECTOR, "li.hit h3 a").text
    assert first_title == " ".join(data["hits"][0]["title"].split())
    bars = d.find_elements(By.CSS_SELECTOR, 'svg[data-chart="months"] rect')
    assert sum(int(b.get_attribute("data-count")) for b in bars) == data["total"]
    assert d.find_element(By.CSS_SELECTOR, "li.hit mark").is_displayed(), "matches highlighted"
    shot(d, "01-search")
    assert_clean_console(d)

    # 2. a facet: the first province
    link = d.find_element(By.CSS_SELECTOR, 'section[data-facet="province"] li a')
    province, count = link.get_attribute("data-value"), int(link.find_element(By.XPATH, "..").text.split()[-1])
    link.click()
    assert current_params(d)["province"] == [province]
    data = api(base_url, **search_params(d))
    assert shown_total(d) == (data["total"], data["total"]) == (count, count)
    assert d.find_element(By.CSS_SELECTOR, "p.filters a.chip").text.startswith(f"province: {province}")
    shot(d, "02-facet")

    # 3. page forward
    d.find_element(By.CSS_SELECTOR, 'nav.pages a[rel="next"]').click()
    assert current_params(d)["page"] == ["2"]
    data = api(base_url, **search_params(d))
    assert hit_ids(d) == [h["id"] for h in data["hits"]] and data["page"] == 2 and data["hits"]
    assert d.find_element(By.CSS_SELECTOR, "nav.pages b").text == "2"
    assert f"page 2 of {data['pages']}" in d.find_element(By.ID, "total").text
    shot(d, "03-page-2")
    results_url = d.current_url

    # 4. an article (one with a view count)
    viewed = next(h for h in data["hits"] if h["view_count"] is not None)
    d.find_element(By.CSS_SELECTOR, f'li.hit[data-id="{viewed["id"]}"] h3 a').click()
    assert urlsplit(d.current_url).path == f"/article/{viewed['id']}"
    assert d.find_element(By.ID, "title").text == " ".join(viewed["title"].split())
    assert d.find_element(By.ID, "original").get_attribute("href") == viewed["url"]
    points = d.find_elements(By.CSS_SELECTOR, 'svg[data-chart="views"] circle')
    assert [int(p.get_attribute("data-views")) for p in points][-1] == viewed["view_count"]
    shot(d, "04-article")
    assert_clean_console(d)

    # 5. export the result set (every page of it, not only the one shown)
    d.get(results_url)
    params = search_params(d)
    expected = api_all(base_url, **{k: v for k, v in params.items() if k != "page"})
    for old in downloads.iterdir():
        old.unlink()
    d.find_element(By.CSS_SELECTOR, 'a[data-export="csv"]').click()
    deadline = time.monotonic() + 60
    while True:
        files = [f for f in downloads.iterdir() if f.suffix == ".csv"]
        if files:
            break
        assert time.monotonic() < deadline, f"no CSV downloaded: {list(downloads.iterdir())}"
        time.sleep(0.2)
    raw = files[0].read_bytes()
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert list(rows[0]) == list(EXPORT_FIELDS)
    assert len(rows) == shown_total(d)[0] == len(expected) > len(hit_ids(d))
    assert sorted(r["url"] for r in rows) == sorted(h["url"] for h in expected)
    assert {r["current_province"] for r in rows} == {province}


def test_the_hostile_article_stays_text_and_its_history_is_drawn(browser: Any, base_url: str) -> None:
    from selenium.webdriver.common.by import By

    d = browser
    d.get(f"{base_url}/article/{document_id(HOSTILE_URL)}")
    title = d.find_element(By.ID, "title").text
    assert "<script>" in title and "<img src=x onerror=alert(1)>" in title
    points = d.find_elements(By.CSS_SELECTOR, 'svg[data-chart="views"] circle')
    assert [int(p.get_attribute("data-views")) for p in points] == [v for _t, v in HOSTILE_VIEWS]
    assert all(p.is_displayed() for p in points)
    version = d.find_element(By.CSS_SELECTOR, "details.version summary")
    version.click()
    assert "Bản đầu tiên" in d.find_element(By.CSS_SELECTOR, "details.version").text
    assert not d.find_elements(By.CSS_SELECTOR, "article script, article img, article iframe")
    shot(d, "05-hostile-article")
    assert_clean_console(d)
    d.get(f"{base_url}/?q=H%C3%B2a+UBND")
    assert "<script>" in d.find_element(By.CSS_SELECTOR, "ol.hits").text
    shot(d, "06-hostile-search")
    assert_clean_console(d)


def test_a_story_is_one_hit_and_its_article_lists_the_other_copies(browser: Any, base_url: str) -> None:
    """The hostile article and its reprint on another portal are one story: the search shows one
    hit with "and 1 more portal", the article page lists the copy with its portal and date (as
    text), and "show every copy" shows both hits."""
    from selenium.webdriver.common.by import By

    d = browser
    d.get(f"{base_url}/?q=H%C3%B2a+UBND")
    ids = hit_ids(d)
    assert document_id(HOSTILE_URL) in ids and document_id(REPRINT_URL) not in ids  # the source is the hit
    story = d.find_element(By.CSS_SELECTOR, f'li.hit[data-id="{document_id(HOSTILE_URL)}"] p.story')
    assert story.is_displayed() and story.text.startswith("and 1 more portal")
    assert "first published here" in story.text
    shot(d, "10-story-collapsed")
    assert_clean_console(d)
    story.find_element(By.TAG_NAME, "a").click()
    rows = d.find_elements(By.CSS_SELECTOR, "#copies tr.copy")
    assert [r.get_attribute("data-id") for r in rows] == [document_id(REPRINT_URL)]
    assert REPRINT_PORTAL_NAME in rows[0].text and "2025" in rows[0].text  # the portal's name as text, the date
    assert not d.find_elements(By.CSS_SELECTOR, "#copies script, #copies i")
    shot(d, "11-story-copies")
    assert_clean_console(d)
    d.get(f"{base_url}/?q=H%C3%B2a+UBND")
    d.find_element(By.CSS_SELECTOR, "a.collapse").click()
    assert {document_id(HOSTILE_URL), document_id(REPRINT_URL)} <= set(hit_ids(d))
    assert current_params(d)["collapse"] == ["0"]
    assert_clean_console(d)


def test_coverage_links_open_each_portals_articles(browser: Any, base_url: str) -> None:
    from selenium.webdriver.common.by import By

    d = browser
    d.get(f"{base_url}/coverage")
    rows = d.find_elements(By.CSS_SELECTOR, "table#coverage tbody tr")
    assert len(rows) == 8, "five mirrored portals, the broken one, the hostile one and its reprint's portal"
    broken = d.find_element(By.CSS_SELECTOR, 'tr[data-portal="demo-broken-1"]')
    assert "unreachable" in broken.text
    shot(d, "07-coverage")
    assert_clean_console(d)
    link = d.find_element(By.CSS_SELECTOR, 'tr[data-portal="demo-tandan-1"] a[data-articles]')
    articles = int(link.get_attribute("data-articles"))
    link.click()
    assert current_params(d) == {"portal": ["demo-tandan-1"]}
    assert shown_total(d) == (articles, articles) == (api(base_url, portal="demo-tandan-1")["total"],) * 2
    shot(d, "08-portal-articles")


def test_a_store_that_is_down_is_a_readable_page(browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    env = {k: v for k, v in os.environ.items() if k != "PORTALNEWS_WEB_TOKEN"}
    with served(f"sqlite:///{tmp_path / 'gone.db'}", env=env) as base:
        browser.get(f"{base}/?q=hoi")
        assert "The store is not available" in browser.find_element(By.TAG_NAME, "h1").text
        assert "reload the page to try again" in browser.find_element(By.ID, "error-message").text
        shot(browser, "09-store-down")
        assert_clean_console(browser, status=503)
