"""Alert delivery: a webhook POST with a JSON body per alert, and one email per evaluation.

Both are optional and configured from Scrapy settings or, when a setting is empty, the
environment variable of the same name:

=============================  ================================================================
``PORTALNEWS_ALERT_WEBHOOK``   URL that gets ``POST`` ed one JSON object per alert
``PORTALNEWS_ALERT_WEBHOOK_TOKEN``  optional, sent as ``Authorization: Bearer …``
``PORTALNEWS_SMTP_HOST``       SMTP server; email is off when empty
``PORTALNEWS_SMTP_PORT``       default 25 (465 means implicit TLS)
``PORTALNEWS_SMTP_FROM``       sender address (default ``portalnews@<hostname>``)
``PORTALNEWS_SMTP_TO``         recipients, comma separated
``PORTALNEWS_SMTP_USER`` / ``PORTALNEWS_SMTP_PASSWORD``  optional login
``PORTALNEWS_SMTP_TLS``        ``auto`` (STARTTLS when offered, default), ``starttls``, ``ssl``, ``none``
``PORTALNEWS_ALERT_REPEAT_HOURS``  send a still-firing alert again after this many hours (default 24;
                               0 = after every evaluation); see :mod:`pipelines.monitoring.notices`
=============================  ================================================================

Besides the alerts, a portal that was notified and passes the rules again gets one
"resolved" notice (webhook ``"event": "resolved"``, and a section of the email).

A delivery that fails is logged and counted; it never raises into the crawl.
"""

from __future__ import annotations

import json
import logging
import os
import smtplib
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from pipelines.monitoring.alerts import Alert
from pipelines.storage.coordination import AlertNotice

logger = logging.getLogger(__name__)

USER_AGENT = "portalnews-alerts/0.1"
DEFAULT_REPEAT_HOURS = 24.0


def _setting(settings: Any, environ: Mapping[str, str], name: str) -> str:
    value = settings.get(name) if settings is not None else None
    if value in (None, ""):
        value = environ.get(name, "")
    return str(value).strip()


@dataclass
class NotifyConfig:
    webhook_url: str = ""
    webhook_token: str = ""
    webhook_timeout: float = 10.0
    webhook_attempts: int = 2
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_from: str = ""
    smtp_to: list[str] = field(default_factory=list)
    smtp_user: str = ""
    smtp_password: str = field(default="", repr=False)
    smtp_tls: str = "auto"
    smtp_timeout: float = 10.0
    repeat_hours: float = DEFAULT_REPEAT_HOURS

    @property
    def repeat_after(self) -> float:
        """Seconds before a still-firing alert is sent again."""
        return self.repeat_hours * 3600.0

    @classmethod
    def from_settings(cls, settings: Any = None, environ: Mapping[str, str] | None = None) -> NotifyConfig:
        env = os.environ if environ is None else environ

        def get(name: str) -> str:
            return _setting(settings, env, name)

        port = get("PORTALNEWS_SMTP_PORT")
        tls = (get("PORTALNEWS_SMTP_TLS") or "auto").lower()
        if tls not in ("auto", "starttls", "ssl", "none"):
            logger.error("PORTALNEWS_SMTP_TLS=%r is not auto, starttls, ssl or none: using auto", tls)
            tls = "auto"
        repeat_raw = get("PORTALNEWS_ALERT_REPEAT_HOURS")
        try:
            repeat = float(repeat_raw) if repeat_raw else DEFAULT_REPEAT_HOURS
            if repeat < 0 or repeat != repeat:
                raise ValueError(repeat_raw)
        except ValueError:
            logger.error("PORTALNEWS_ALERT_REPEAT_HOURS=%r is not a number of hours >= 0: using %g",
                         repeat_raw, DEFAULT_REPEAT_HOURS)
            repeat = DEFAULT_REPEAT_HOURS
        return cls(
            repeat_hours=repeat,
            webhook_url=get("PORTALNEWS_ALERT_WEBHOOK"),
            webhook_token=get("PORTALNEWS_ALERT_WEBHOOK_TOKEN"),
            smtp_host=get("PORTALNEWS_SMTP_HOST"),
            smtp_port=int(port) if port.isdigit() else 25,
            smtp_from=get("PORTALNEWS_SMTP_FROM"),
            smtp_to=[a.strip() for a in get("PORTALNEWS_SMTP_TO").split(",") if a.strip()],
            smtp_user=get("PORTALNEWS_SMTP_USER"),
            smtp_password=get("PORTALNEWS_SMTP_PASSWORD"),
            smtp_tls=tls,
        )

    @property
    def email_enabled(self) -> bool:
        return bool(self.smtp_host and self.smtp_to)


@dataclass
class Delivery:
    """What happened to the notifications of one evaluation."""

    webhook_sent: int = 0
    webhook_failed: int = 0
    email_sent: bool = False
    email_failed: bool = False
    errors: list[str] = field(default_factory=list)
    resolved_sent: int = 0  # "resolved" notices that reached at least one channel
    held: int = 0  # alerts not sent again: notified less than the repeat interval ago
    undelivered: list[str] = field(default_factory=list)  # portals whose alert reached no channel

    def to_dict(self) -> dict[str, Any]:
        return {"webhook_sent": self.webhook_sent, "webhook_failed": self.webhook_failed,
                "email_sent": self.email_sent, "email_failed": self.email_failed, "errors": list(self.errors),
                "resolved_sent": self.resolved_sent, "held": self.held, "undelivered": list(self.undelivered)}


def alert_payload(alert: Alert, context: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The JSON body of a webhook call."""
    body: dict[str, Any] = {"source": "portalnews", "event": "alert",
                            "time": datetime.now(UTC).isoformat(timespec="seconds")}
    body.update(alert.to_dict())
    if context:
        body["context"] = dict(context)
    return body


def resolved_payload(notice: AlertNotice, context: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The JSON body of a webhook call saying that a notified portal passes again."""
    body: dict[str, Any] = {"source": "portalnews", "event": "resolved",
                            "time": datetime.now(UTC).isoformat(timespec="seconds"),
                            "portal_id": notice.portal_id, "severity": notice.severity,
                            "summary": f"passes the alert rules again (was: {notice.summary})",
                            "previous_summary": notice.summary, "rules": notice.fingerprint.partition(":")[2].split(","),
                            "first_sent": _iso(notice.first_sent), "notices_sent": notice.count}
    if context:
        body["context"] = dict(context)
    return body


def _iso(epoch: float) -> str | None:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds") if epoch else None


def send_webhook(url: str, payload: Mapping[str, Any], timeout: float = 10.0, token: str = "",
                 attempts: int = 2) -> None:
    """POST ``payload`` as JSON; raises OSError (or ValueError for a bad URL) after the last attempt."""
    data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    last: Exception | None = None
    for attempt in range(max(1, attempts)):
        request = urllib.request.Request(url, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:
                resp.read(65536)
            return
        except urllib.error.HTTPError as exc:
            last = exc
            if exc.code < 500 and exc.code != 429:  # the receiver refuses the call: do not insist
                break
        except (OSError, ValueError) as exc:
            last = exc
            if isinstance(exc, ValueError):
                break
        if attempt + 1 < attempts:
            time.sleep(1.0)
    assert last is not None
    raise last


def _names(ids: list[str]) -> str:
    return ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")


def email_message(alerts: list[Alert], config: NotifyConfig, context: Mapping[str, Any] | None = None,
                  resolved: list[AlertNotice] | None = None) -> EmailMessage:
    """One plain-text message listing every alert (and every resolved portal) of an evaluation."""
    resolved = resolved or []
    msg = EmailMessage()
    if alerts:
        msg["Subject"] = f"[portalnews] {len(alerts)} portal(s) need attention: {_names([a.portal_id for a in alerts])}"
    else:
        msg["Subject"] = f"[portalnews] {len(resolved)} portal(s) resolved: {_names([n.portal_id for n in resolved])}"
    msg["From"] = config.smtp_from or f"portalnews@{socket.gethostname()}"
    msg["To"] = ", ".join(config.smtp_to)
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(domain="portalnews")
    lines = [f"portalnews alert evaluation at {datetime.now(UTC).isoformat(timespec='seconds')}"]
    if context:
        lines.append(", ".join(f"{k}: {v}" for k, v in context.items()))
    lines.append("")
    for a in alerts:
        where = " · ".join(x for x in (a.name, a.province, a.level) if x)
        lines.append(f"{a.portal_id} [{a.severity}] health {a.health}/100" + (f" ({where})" if where else ""))
        for f in a.findings:
            lines.append(f"  - {f.rule}: {f.message}")
        lines.append("")
    if resolved:
        lines.append("Resolved (passing the rules again):")
        for n in resolved:
            lines.append(f"  {n.portal_id}: was {n.summary}")
        lines.append("")
    msg.set_content("\n".join(lines))
    return msg


def send_email(msg: EmailMessage, config: NotifyConfig) -> None:
    """Send through the configured SMTP server; raises smtplib.SMTPException / OSError."""
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if config.smtp_tls == "ssl" or (config.smtp_tls == "auto" and config.smtp_port == 465):
        smtp = smtplib.SMTP_SSL(config.smtp_host, config.smtp_port, timeout=config.smtp_timeout, context=context)
    else:
        smtp = smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=config.smtp_timeout)
    with smtp:
        smtp.ehlo_or_helo_if_needed()
        if not isinstance(smtp, smtplib.SMTP_SSL) and (
                config.smtp_tls == "starttls" or (config.smtp_tls == "auto" and smtp.has_extn("starttls"))):
            smtp.starttls(context=context)
            smtp.ehlo()
        if config.smtp_user:
            smtp.login(config.smtp_user, config.smtp_password)
        smtp.send_message(msg)


class Notifier:
    """Sends the alerts of one evaluation to the configured webhook and mailbox."""

    def __init__(self, config: NotifyConfig) -> None:
        self.config = config

    @property
    def enabled(self) -> bool:
        return bool(self.config.webhook_url or self.config.email_enabled)

    def notify(self, alerts: list[Alert], context: Mapping[str, Any] | None = None,
               resolved: list[AlertNotice] | None = None) -> Delivery:
        """Send ``alerts`` (and the ``resolved`` notices); never raises."""
        delivery = Delivery()
        resolved = resolved or []
        if not alerts and not resolved:
            return delivery
        cfg = self.config
        webhook_ok: set[str] = set()
        if cfg.webhook_url:
            calls = [(a.portal_id, alert_payload(a, context), True) for a in alerts]
            calls += [(n.portal_id, resolved_payload(n, context), False) for n in resolved]
            for portal_id, payload, is_alert in calls:
                try:
                    send_webhook(cfg.webhook_url, payload, cfg.webhook_timeout, cfg.webhook_token,
                                 cfg.webhook_attempts)
                except Exception as exc:  # a webhook problem must never stop the crawl
                    delivery.webhook_failed += 1
                    delivery.errors.append(f"webhook: {portal_id}: {exc}")
                    logger.error("alert webhook for %s failed: %s", portal_id, exc)
                    continue
                if is_alert:
                    delivery.webhook_sent += 1
                    webhook_ok.add(portal_id)
                else:
                    delivery.resolved_sent += 1
            if delivery.webhook_sent or delivery.resolved_sent:
                logger.info("alert webhook: %d alert(s) and %d resolved notice(s) sent", delivery.webhook_sent,
                            delivery.resolved_sent)
        if cfg.email_enabled:
            try:
                send_email(email_message(alerts, cfg, context, resolved), cfg)
                delivery.email_sent = True
                if not cfg.webhook_url:
                    delivery.resolved_sent = len(resolved)
                logger.info("alert email sent to %s", ", ".join(cfg.smtp_to))
            except Exception as exc:  # as above: log it, carry on
                delivery.email_failed = True
                delivery.errors.append(f"email: {exc}")
                logger.error("alert email through %s:%s failed: %s", cfg.smtp_host, cfg.smtp_port, exc)
        elif cfg.smtp_host and not cfg.smtp_to:
            logger.error("PORTALNEWS_SMTP_HOST is set but PORTALNEWS_SMTP_TO is empty: no alert email sent")
        if not delivery.email_sent:
            delivery.undelivered = [a.portal_id for a in alerts if a.portal_id not in webhook_ok]
        return delivery
