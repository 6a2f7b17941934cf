"""Crawl scheduling: the long-running scheduler, crawl --due, durations and the recrawl policy."""
