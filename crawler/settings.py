"""Scrapy settings for portalnews.

Project-specific settings are prefixed ``PORTALNEWS_`` and read by components in
``from_crawler`` through typed getters; nothing here is read at import time by
other modules.
"""

BOT_NAME = "portalnews"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"

USER_AGENT = "portalnews/0.1 (+https://github.com/portalnews/portalnews; news archive crawler for public government portals)"
# Scrapy's robots middleware fetches each host's robots.txt once; this parser also keeps its
# Sitemap lines, which the spider follows (crawler/middlewares/robots.py). With
# ROBOTSTXT_OBEY off, robots.txt is not fetched and its Sitemap lines are not followed.
ROBOTSTXT_OBEY = True
ROBOTSTXT_PARSER = "crawler.middlewares.robots.SitemapRobotParser"

# Politeness: AutoThrottle plus per-host limits are on by default.
CONCURRENT_REQUESTS = 32
CONCURRENT_REQUESTS_PER_DOMAIN = 4
DOWNLOAD_DELAY = 0.25
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 0.5
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 2.0
DOWNLOAD_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 16 * 1024 * 1024
DOWNLOAD_WARNSIZE = 4 * 1024 * 1024
RETRY_ENABLED = True
RETRY_TIMES = 2
REDIRECT_MAX_TIMES = 5
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
DNS_TIMEOUT = 15
# Each page yields one item and a few requests; Scrapy starts this many output workers
# per response, so the default of 100 only costs scheduling overhead.
CONCURRENT_ITEMS = 8

# Breadth-first order keeps memory flat and reaches listings before deep pages.
DEPTH_PRIORITY = 1
SCHEDULER_DISK_QUEUE = "scrapy.squeues.PickleFifoDiskQueue"
SCHEDULER_MEMORY_QUEUE = "scrapy.squeues.FifoMemoryQueue"

TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
# Scrapy's downloader with CONCURRENT_REQUESTS_PER_DOMAIN held under that reactor (crawler/downloader.py)
DOWNLOADER = "crawler.downloader.HostLimitDownloader"
FEED_EXPORT_ENCODING = "utf-8"
LOG_LEVEL = "INFO"
# One line per dropped or failed page, never the page's HTML (crawler/logformatter.py).
LOG_FORMATTER = "crawler.logformatter.PortalLogFormatter"


ITEM_PIPELINES = {
    "pipelines.stages.extraction.ExtractionPipeline": 100,
    "pipelines.stages.validation.ValidationPipeline": 300,
    "pipelines.stages.dedup.DedupPipeline": 400,
    "pipelines.stages.storage.StoragePipeline": 900,
}

EXTENSIONS = {
    # owns the crawl's one store (PORTALNEWS_STORE): the spider, the storage pipeline, the
    # politeness middleware and the alerts reach it through the crawler
    "pipelines.storage.extension.StoreExtension": 0,
    "crawler.extensions.progress.ProgressReporter": 500,
    # evaluates the alert rules on spider_closed, after the storage pipeline has closed
    "pipelines.monitoring.extension.AlertingExtension": 600,
    # one notice per watchlist with the new matching articles (pipelines/monitoring/watch.py)
    "pipelines.monitoring.extension.WatchlistExtension": 610,
}

# --- portalnews settings -------------------------------------------------
# Registry file; the CLI and `scrapy crawl portal -a portals=FILE` override it.
PORTALNEWS_PORTALS = "portals.yaml"
# Store URL: sqlite:///PATH, http(s)://, elasticsearch://, opensearch:// … Empty: the environment's
# PORTALNEWS_STORE or ELASTICSEARCH_URL, else sqlite:///data/portalnews.db.
PORTALNEWS_STORE = ""
# Safety bound on pages fetched from one portal in one crawl.
PORTALNEWS_MAX_PAGES_PER_PORTAL = 20000
# Incremental crawls: skip pages already known, stop paginating at known articles.
PORTALNEWS_INCREMENTAL = True
# Background writer: batch size, queue bound (items) and flush interval (s).
PORTALNEWS_WRITE_BATCH = 200
PORTALNEWS_WRITE_QUEUE = 2000
PORTALNEWS_WRITE_INTERVAL = 1.0
# Search-engine stores: batches in flight at once, and the on-disk spool folder for
# documents the engine could not take (default data/spool/<store>/).
PORTALNEWS_MAX_INFLIGHT_BATCHES = 2
PORTALNEWS_SPOOL_DIR = ""
# Progress line interval in seconds (0 disables).
PORTALNEWS_PROGRESS_INTERVAL = 10.0
# Minimum body length (characters) for a document to be stored.
PORTALNEWS_MIN_BODY_CHARS = 80
# Extraction worker processes (pipelines/stages/extraction_pool.py): "" or "auto" = one per CPU
# core but one, at most four (1 on 2 cores, in-process on 1 core); 0 = in the crawl's own thread.
PORTALNEWS_EXTRACTION_WORKERS = ""
# Monitoring (pipelines/monitoring, pipelines/monitoring/extension.py). Empty values fall back to the
# environment variable of the same name, then to the default.
# Dead-letter file for articles that fail validation (default data/dead-letter.jsonl).
PORTALNEWS_DEAD_LETTER = ""
# Alert rules evaluated after every crawl (default: the bundled pipelines/monitoring/rules.yaml).
PORTALNEWS_ALERTS_ENABLED = True
PORTALNEWS_ALERT_RULES = ""
# Optional alert delivery: webhook URL (JSON POST per alert) and SMTP (one email per crawl).
PORTALNEWS_ALERT_WEBHOOK = ""
PORTALNEWS_SMTP_HOST = ""
PORTALNEWS_SMTP_PORT = ""
PORTALNEWS_SMTP_FROM = ""
PORTALNEWS_SMTP_TO = ""
# A still-firing alert goes to the webhook / email again after this many hours (0: after
# every evaluation); new alerts, changed ones and resolved portals are sent at once.
PORTALNEWS_ALERT_REPEAT_HOURS = ""

# Link-local addresses (169.254.0.0/16, fe80::/10) are never crawled; loopback and private ones only
# when this is true (crawl --allow-private-hosts). Empty: the environment variable of the same name.
PORTALNEWS_ALLOW_PRIVATE_HOSTS = ""

# --- scheduling, recrawl and politeness at scale (crawler/scheduling/scheduler.py, crawler/middlewares/politeness.py) ---
# Back off a host that answers 429/503 (honouring Retry-After) or answers slower than
# PORTALNEWS_SLOW_RESPONSE seconds (0 disables); the back-off is logged, counted in the
# stats and recorded in the store, where every scheduler worker honours it. It watches the
# response_downloaded signal (before the host's next request and the retry are sent).
DOWNLOADER_MIDDLEWARES = {
    # refuses hosts that resolve inside the operator's network (crawler/middlewares/private_hosts.py);
    # first in the chain, so a redirect towards such a host is refused (and counted) as that,
    # whatever its origin, and robots.txt is not fetched from it either
    "crawler.middlewares.private_hosts.PrivateHostsMiddleware": 50,
    # every request (redirects and meta refreshes included) stays in its portal's origin:
    # scheme + host + port; before the robots middleware (100), so nothing of another origin
    # is fetched, robots.txt included (crawler/middlewares/scope.py). It replaces Scrapy's
    # offsite check, which knows host names only (not the port or the scheme) and drops a
    # request without its errback, so a home page that redirects elsewhere would leave no
    # trace of why the portal has no page
    "scrapy.downloadermiddlewares.offsite.OffsiteMiddleware": None,
    "crawler.middlewares.scope.ScopeMiddleware": 55,
    # a redirect to file:, ftp:, javascript: … leaves the origin, a redirect back into its own
    # chain is a loop: both recorded, before Scrapy's redirect middleware (600) sees them
    "crawler.middlewares.scope.RedirectGuardMiddleware": 650,
    # the same for a meta refresh, on the decoded page (after 585) before Scrapy's (580): a
    # redirect out of the origin is refused before it becomes a request, whose fingerprint
    # would otherwise make the other portal's own link to that page a "duplicate"
    "crawler.middlewares.scope.MetaRefreshGuardMiddleware": 582,
    "crawler.middlewares.politeness.PolitenessMiddleware": 560,
    # each HTML page decoded once, by decode_html, after decompression (590) and before
    # Scrapy's meta-refresh check (580) and the spider read it (crawler/middlewares/decoding.py)
    "crawler.middlewares.decoding.DecodeOnceMiddleware": 585,
}
PORTALNEWS_BACKOFF_ENABLED = True
PORTALNEWS_BACKOFF_HTTP_CODES = [429, 503]
PORTALNEWS_BACKOFF_BASE_DELAY = 5.0  # first pause without Retry-After; doubles while it lasts
PORTALNEWS_BACKOFF_MAX_DELAY = 300.0  # longest pause (also caps Retry-After)
PORTALNEWS_SLOW_RESPONSE = 10.0
# Recrawl policy (crawler/scheduling/intervals.py): articles published less than this many days ago
# are fetched again every clamp(age / 4, MIN, MAX) to keep view_count fresh; each fetch
# adds a (time, views) point to the article's history. 0 disables.
PORTALNEWS_RECRAWL_DAYS = 14
PORTALNEWS_RECRAWL_MIN_INTERVAL = "1h"
PORTALNEWS_RECRAWL_MAX_INTERVAL = "3d"
# ISO 8601 instant used instead of the clock by the recrawl policy (tests, replays).
PORTALNEWS_NOW = ""
