"""The Scrapy item pipelines, in order: extraction, validation, de-duplication, storage."""
