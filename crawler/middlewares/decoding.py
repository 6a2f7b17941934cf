"""Each page is decoded once, by the project's decoder.

:class:`DecodeOnceMiddleware` (a downloader middleware placed after HTTP decompression and
before Scrapy's meta-refresh check) hands every HTML response on as a
:class:`DecodedHtmlResponse` (a plain-text one as a :class:`DecodedTextResponse`), whose
``text`` is :func:`pipelines.extract.encoding.decode_page` of the body (byte-order mark, HTTP
charset, ``<meta>`` declarations, windows-1258, declarations the bytes contradict),
computed on first use and kept.  Scrapy's meta-refresh middleware, the spider's link
selectors and the page the item pipelines extract from all read that one text: the bytes
are never decoded a second time by another decoder.  XML feeds and sitemaps are left
alone: the spider reads them from their bytes.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from scrapy import Request, Spider
from scrapy.http import HtmlResponse, Response, TextResponse
from w3lib.encoding import html_body_declared_encoding, http_content_type_encoding, read_bom

from pipelines.extract.encoding import DecodedPage, decode_page


class _DecodedOnce(TextResponse):
    """A text response whose text is decoded once, by :func:`decode_page`."""

    @cached_property
    def content_type(self) -> str:
        return (self.headers.get(b"Content-Type") or b"").decode("latin-1")

    @cached_property
    def decoded(self) -> DecodedPage:
        """The body decoded once, with the count of invalid byte sequences replaced."""
        return decode_page(self.body, self.content_type, self.url)

    @cached_property
    def text(self) -> str:  # type: ignore[override]
        return self.decoded.text

    @cached_property
    def encoding(self) -> str:  # type: ignore[override]
        # What the response declares (BOM, HTTP header, <meta>), for the URLs Scrapy builds
        # from the page; never a guess that would decode the body once more.
        return (read_bom(self.body)[0] or http_content_type_encoding(self.content_type)
                or html_body_declared_encoding(self.body) or "utf-8")


class DecodedHtmlResponse(_DecodedOnce, HtmlResponse):
    """An HTML response decoded once."""


class DecodedTextResponse(_DecodedOnce):
    """A plain-text response decoded once (not HTML: Scrapy's meta-refresh check skips it)."""


_DECODED: dict[type[Response], type[Response]] = {HtmlResponse: DecodedHtmlResponse,
                                                  TextResponse: DecodedTextResponse}


class DecodeOnceMiddleware:
    """Downloader middleware; see the module docstring."""

    def process_response(self, request: Request, response: Response, spider: Spider | None = None) -> Response:
        decoded = _DECODED.get(type(response))
        if decoded is None:
            return response
        # Response.replace() would read .encoding, which can decode the whole body to guess it
        kwargs: dict[str, Any] = {name: getattr(response, name) for name in Response.attributes}
        return decoded(**kwargs)
