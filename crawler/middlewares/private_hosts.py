"""Keep the crawler out of the operator's own network.

A registry URL, or a link, may point at an address inside the network the crawler runs
in: the cloud metadata service (``http://169.254.169.254/``), a service on the crawl
machine (``http://localhost:22/``) or a private range.  The policy, shared by the registry
check (:mod:`crawler.registry`) and by :class:`PrivateHostsMiddleware` at fetch time:

* **link-local** addresses (``169.254.0.0/16``, ``fe80::/10``) are always refused;
* **loopback** (``127.0.0.0/8``, ``::1``, ``localhost``) and **private** or otherwise
  non-public addresses (``10/8``, ``172.16/12``, ``192.168/16``, ``100.64/10``,
  ``fc00::/7``, ``0.0.0.0`` …) are refused unless the operator allows them with the
  environment variable ``PORTALNEWS_ALLOW_PRIVATE_HOSTS=1``, ``crawl
  --allow-private-hosts`` or the Scrapy setting ``PORTALNEWS_ALLOW_PRIVATE_HOSTS``.
  Mirrors served on loopback (``portalnews demo``, the tests, the benchmarks) set it.

The registry can only judge addresses written in the URL (IP literals in any notation
the resolver accepts, ``localhost``).  :class:`PrivateHostsMiddleware`, a downloader
middleware, checks the address a host name RESOLVES to before every request, through
the crawl's own (caching) resolver, so a public name that points at a private address
is refused the same way; the request is dropped with ``IgnoreRequest``, logged once per
host and counted in ``portalnews/private_host_refused/<portal>``.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import socket
from enum import StrEnum
from typing import Any

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached

logger = logging.getLogger(__name__)

__all__ = ["ALLOW_VARIABLE", "AddressKind", "PrivateHostsMiddleware", "address_kind", "allow_private_hosts",
           "host_refusal"]

#: The environment variable (and Scrapy setting) that lets a crawl reach loopback and private hosts.
ALLOW_VARIABLE = "PORTALNEWS_ALLOW_PRIVATE_HOSTS"
_TRUE = {"1", "true", "yes", "on"}
# Host names that are numeric IPv4 in some notation the C resolver accepts (2852039166, 0xA9FEA9FE, 0251.0376…).
_NUMERIC_HOST = re.compile(r"^[0-9a-fA-FxX.]+$")
# Only these characters can make an IP literal (IPv6 included); any other one makes a name.
_IP_CHARS = re.compile(r"^[0-9a-fA-FxX.:%]+$")
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT: not public, and not is_private either


class AddressKind(StrEnum):
    """Where an address points, as far as the crawler's policy is concerned."""

    PUBLIC = "public"
    LINK_LOCAL = "link-local"
    LOOPBACK = "loopback"
    PRIVATE = "private"


def allow_private_hosts(setting: Any = None) -> bool:
    """Whether loopback and private hosts may be crawled: the Scrapy setting or CLI value when
    it is set (not None, not ""), else the environment variable ``PORTALNEWS_ALLOW_PRIVATE_HOSTS``."""
    value = setting if setting not in (None, "") else os.environ.get(ALLOW_VARIABLE, "")
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in _TRUE


def parse_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP address a URL host names literally (brackets, a trailing dot and legacy IPv4
    notations such as ``2852039166`` or ``0xA9.0xFE.169.254`` included), or None for a name."""
    host = host.strip().strip("[]").rstrip(".").lower()
    if not host:
        return None
    if not _IP_CHARS.match(host):
        return None
    host = host.split("%", 1)[0]  # fe80::1%eth0
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _NUMERIC_HOST.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def address_kind(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> AddressKind:
    """Classify an address; an IPv4-mapped IPv6 address counts as its IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_link_local:
        return AddressKind.LINK_LOCAL
    if address.is_loopback:
        return AddressKind.LOOPBACK
    if address.is_global and address not in _SHARED and not address.is_multicast:
        return AddressKind.PUBLIC
    return AddressKind.PRIVATE


def host_kind(host: str) -> AddressKind | None:
    """The kind of a URL host when it can be told without DNS (an IP literal, ``localhost``)."""
    name = host.strip().strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return AddressKind.LOOPBACK
    address = parse_ip(name)
    return address_kind(address) if address is not None else None


def refusal(kind: AddressKind | None, allow: bool) -> str | None:
    """Why an address of ``kind`` may not be crawled, or None when it may."""
    if kind is AddressKind.LINK_LOCAL:
        return "a link-local address (such as the cloud metadata service) is never crawled"
    if kind in (AddressKind.LOOPBACK, AddressKind.PRIVATE) and not allow:
        return (f"a {kind.value} address is inside the operator's network; set {ALLOW_VARIABLE}=1 "
                "(or crawl --allow-private-hosts) to crawl it")
    return None


def host_refusal(host: str, allow: bool) -> str | None:
    """Why a URL host may not be crawled, judged without DNS, or None."""
    return refusal(host_kind(host), allow)


class PrivateHostsMiddleware:
    """Downloader middleware: refuse requests to hosts that resolve to link-local addresses,
    and to loopback or private ones unless they are allowed (see the module docstring)."""

    def __init__(self, crawler: Crawler, allow: bool) -> None:
        self.crawler = crawler
        self.allow = allow
        self._warned: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PrivateHostsMiddleware:
        return cls(crawler, allow_private_hosts(crawler.settings.get(ALLOW_VARIABLE)))

    async def process_request(self, request: Request, spider: Spider | None = None) -> None:
        host = urlparse_cached(request).hostname or ""
        kind = host_kind(host)
        address = host
        if kind is None:
            resolved = await self._resolve(host)
            if resolved is None:  # the download reports the DNS failure itself
                return None
            address = resolved
            ip = parse_ip(address)
            if ip is None:
                return None
            kind = address_kind(ip)
        reason = refusal(kind, self.allow)
        if reason is None:
            return None
        portal = request.meta.get("portal_id", "?")
        if self.crawler.stats is not None:
            self.crawler.stats.inc_value(f"portalnews/private_host_refused/{portal}")
        shown = host if address == host else f"{host} (resolves to {address})"
        message = f"refused {request.url}: {shown}: {reason}"
        if host not in self._warned:
            self._warned.add(host)
            logger.warning("%s: %s", portal, message)
        raise IgnoreRequest(message)

    async def _resolve(self, host: str) -> str | None:
        """The address the crawl's own resolver (Scrapy's caching one) gives ``host``."""
        from twisted.internet import reactor

        try:
            address: str = await maybe_deferred_to_future(reactor.resolve(host))  # type: ignore[attr-defined,arg-type]
        except Exception:  # any lookup failure is left to the download to report
            return None
        return address
