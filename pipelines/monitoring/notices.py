"""Alert de-duplication: which alerts to notify now, which were sent already, which resolved.

The rules run after every crawl, so a portal that stays stale would otherwise page the
duty officer after every crawl for weeks.  The store keeps, per portal, the last notice
sent (:class:`~pipelines.storage.coordination.AlertNotice`), shared by every worker:

* a portal's alert is sent when it first fires, when what fires changes (another rule,
  another severity), and again once ``repeat_after`` seconds have passed (default 24 h;
  0 sends on every evaluation);
* a portal that was notified and now passes gets one "resolved" notice;
* a notice that could be delivered on no channel is released, so the next evaluation
  tries again.

Every alert is still written to the log on every evaluation; only the webhook and the
email are de-duplicated.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pipelines.monitoring.alerts import Alert
from pipelines.monitoring.notify import Delivery, Notifier
from pipelines.storage.base import StoreError
from pipelines.storage.coordination import AlertNotice, Coordination

logger = logging.getLogger(__name__)


def fingerprint(alert: Alert) -> str:
    """What fired, without the figures that change from one crawl to the next."""
    return f"{alert.severity}:{','.join(sorted(set(alert.rules)))}"


@dataclass
class NoticePlan:
    """The outcome of :func:`plan_notices`."""

    send: list[Alert] = field(default_factory=list)  # to notify now
    held: list[Alert] = field(default_factory=list)  # still firing, already notified recently
    resolved: list[AlertNotice] = field(default_factory=list)  # notified before, passing now


def plan_notices(store: Coordination, alerts: list[Alert], portal_ids: Iterable[str], repeat_after: float,
                 now: float | None = None) -> NoticePlan:
    """Claim the notices of ``alerts`` and find the resolved portals among ``portal_ids``
    (the portals that were evaluated)."""
    now = time.time() if now is None else now
    plan = NoticePlan()
    for alert in alerts:
        claimed = store.claim_alert_notice(alert.portal_id, fingerprint(alert), repeat_after,
                                           severity=alert.severity, summary=alert.summary, now=now)
        (plan.send if claimed is not None else plan.held).append(alert)
    firing = {a.portal_id for a in alerts}
    passing = [pid for pid in dict.fromkeys(portal_ids) if pid not in firing]
    for pid in store.alert_notices(passing):  # one read; a write only where a notice was sent
        previous = store.drop_alert_notice(pid)
        if previous is not None:
            plan.resolved.append(previous)
    if plan.held:
        logger.info("alert notices: %d alert(s) still firing were notified less than %.3gh ago: %s",
                    len(plan.held), repeat_after / 3600, ", ".join(a.portal_id for a in plan.held))
    for notice in plan.resolved:
        logger.info("alert resolved: %s passes the rules again (was: %s)", notice.portal_id, notice.summary)
    return plan


def release_undelivered(store: Coordination, alerts: list[Alert], portal_ids: Iterable[str]) -> None:
    """Forget the claims of alerts that reached no channel, so that they are sent next time."""
    wanted = set(portal_ids)
    for alert in alerts:
        if alert.portal_id in wanted:
            store.drop_alert_notice(alert.portal_id, fingerprint(alert))


def notify_new_alerts(store: Coordination, notifier: Notifier, alerts: list[Alert], portal_ids: Iterable[str],
                      context: Mapping[str, Any] | None = None, resend: bool = False) -> Delivery:
    """Send what :func:`plan_notices` says is due (everything when ``resend``); never raises.

    When the store cannot say what was sent (e.g. the engine is down), every alert is sent:
    a repeated page is better than a missed one."""
    if not notifier.enabled:
        return Delivery()
    ids = list(portal_ids)
    try:
        plan = plan_notices(store, alerts, ids, 0.0 if resend else notifier.config.repeat_after)
    except StoreError as exc:
        logger.error("alert notices: cannot read what was sent before (%s); sending every alert", exc)
        return notifier.notify(alerts, context)
    delivery = notifier.notify(plan.send, context, plan.resolved)
    delivery.held = len(plan.held)
    if delivery.undelivered:
        try:
            release_undelivered(store, plan.send, delivery.undelivered)
        except StoreError as exc:
            logger.error("alert notices: cannot release the undelivered alerts (%s)", exc)
    return delivery
