"""Alert delivery against real loopback servers: a webhook receiver and an SMTP server."""

from __future__ import annotations

import logging

import pytest

from pipelines.monitoring.alerts import Alert, Finding
from pipelines.monitoring.notify import Notifier, NotifyConfig
from tests.conftest import free_port
from tests.monitoring_servers import SMTPReceiver, WebhookReceiver


def alerts() -> list[Alert]:
    return [
        Alert(portal_id="xa-a", severity="critical", name="Xã A", province="Phú Yên", level="commune",
              findings=[Finding("crawl_failed", "last crawl failed: home page unreachable: connection refused",
                                "critical"),
                        Finding("stale", "no article stored (stale after 30 days)", threshold=30)]),
        Alert(portal_id="huyen-b", severity="warning", province="Bến Tre", level="district",
              findings=[Finding("extraction_failures", "published_at not found on 100% of 30 article pages",
                                value=100.0, threshold=20.0)]),
    ]


def test_webhook_gets_one_json_post_per_alert() -> None:
    with WebhookReceiver() as hook:
        notifier = Notifier(NotifyConfig(webhook_url=hook.url, webhook_token="s3cret"))
        delivery = notifier.notify(alerts(), {"trigger": "test"})
        assert (delivery.webhook_sent, delivery.webhook_failed) == (2, 0)
        bodies = hook.bodies()
    assert [b["portal_id"] for b in bodies] == ["xa-a", "huyen-b"]
    first = bodies[0]
    assert first["source"] == "portalnews" and first["event"] == "alert" and first["severity"] == "critical"
    assert first["rules"] == ["crawl_failed", "stale"]
    assert "home page unreachable" in first["summary"]
    assert first["context"] == {"trigger": "test"}
    assert hook.calls[0]["headers"]["Authorization"] == "Bearer s3cret"
    assert hook.calls[0]["headers"]["Content-Type"].startswith("application/json")
    assert bodies[1]["findings"][0] == {"rule": "extraction_failures", "severity": "warning",
                                        "message": "published_at not found on 100% of 30 article pages",
                                        "value": 100.0, "threshold": 20.0}


def test_webhook_retries_a_server_error_once() -> None:
    with WebhookReceiver(fail_first=1) as hook:
        delivery = Notifier(NotifyConfig(webhook_url=hook.url)).notify(alerts()[:1])
        assert delivery.webhook_sent == 1 and len(hook.bodies()) == 1


def test_unreachable_webhook_and_smtp_are_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    dead = free_port()
    cfg = NotifyConfig(webhook_url=f"http://127.0.0.1:{dead}/x", webhook_attempts=1, webhook_timeout=2,
                       smtp_host="127.0.0.1", smtp_port=dead, smtp_to=["ops@example.org"], smtp_timeout=2)
    with caplog.at_level(logging.ERROR, logger="pipelines.monitoring.notify"):
        delivery = Notifier(cfg).notify(alerts())
    assert delivery.webhook_failed == 2 and delivery.webhook_sent == 0
    assert delivery.email_failed and not delivery.email_sent
    assert "alert webhook for xa-a failed" in caplog.text and "alert email through 127.0.0.1" in caplog.text


def test_email_goes_out_through_smtp_with_login() -> None:
    with SMTPReceiver(credentials=("monitor", "pa55")) as smtp:
        cfg = NotifyConfig.from_settings(None, {
            "PORTALNEWS_SMTP_HOST": "127.0.0.1", "PORTALNEWS_SMTP_PORT": str(smtp.port),
            "PORTALNEWS_SMTP_FROM": "portalnews@127.0.0.1", "PORTALNEWS_SMTP_TO": "ops@example.org, duty@example.org",
            "PORTALNEWS_SMTP_USER": "monitor", "PORTALNEWS_SMTP_PASSWORD": "pa55"})
        delivery = Notifier(cfg).notify(alerts(), {"trigger": "test"})
        assert delivery.email_sent, delivery.errors
        messages = smtp.messages
    assert len(messages) == 1
    mail = messages[0]
    assert mail.user == "monitor"
    assert mail.mail_from == "portalnews@127.0.0.1"
    assert mail.rcpt_to == ["ops@example.org", "duty@example.org"]
    msg = mail.message
    assert msg["Subject"] == "[portalnews] 2 portal(s) need attention: xa-a, huyen-b"
    payload = msg.get_payload(decode=True)
    assert isinstance(payload, bytes)
    text = payload.decode("utf-8")
    assert "xa-a [critical]" in text and "huyen-b [warning]" in text
    assert "Phú Yên" in text  # UTF-8 survives


def test_wrong_smtp_password_is_reported() -> None:
    with SMTPReceiver(credentials=("monitor", "pa55")) as smtp:
        cfg = NotifyConfig(smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_to=["ops@example.org"],
                           smtp_user="monitor", smtp_password="wrong")
        delivery = Notifier(cfg).notify(alerts())
        assert delivery.email_failed and "535" in delivery.errors[0]
        assert smtp.messages == []


def test_settings_win_over_the_environment() -> None:
    cfg = NotifyConfig.from_settings({"PORTALNEWS_ALERT_WEBHOOK": "http://127.0.0.1:1/a"},
                                     {"PORTALNEWS_ALERT_WEBHOOK": "http://127.0.0.1:2/b", "PORTALNEWS_SMTP_HOST": "h"})
    assert cfg.webhook_url == "http://127.0.0.1:1/a"
    assert cfg.smtp_host == "h" and not cfg.email_enabled  # no recipient
    assert not Notifier(NotifyConfig()).enabled
