"""portalnews crawler: the Scrapy project (settings, items, spiders, registry, family profiles, CLI)."""
