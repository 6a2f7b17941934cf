"""Downloader middlewares (politeness: back-off on 429/503 and slow hosts)."""
