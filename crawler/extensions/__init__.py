"""Scrapy extensions of the crawl (progress lines)."""
