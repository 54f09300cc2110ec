"""The notification core: an outbox of emails, written with the change they report.

``notification_queue`` stores the rendered email in the caller's transaction and asks a
Celery worker to send it once that transaction commits. A rolled-back change therefore
sends nothing, and a broker outage at commit time only delays the email: the periodic
``notifications_send_pending`` task sweeps up every row still unsent.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models.functions import Lower
from django.template import Context
from django.template.loader import get_template, render_to_string
from django.utils import timezone, translation

from portal.db import compiled_rows, rows_insert
from portal.i18n import context_from_json, json_context

from .models import Customer, Membership, Notification, User
from .roles import Permission, roles_with

logger = logging.getLogger(__name__)

# What a failed send may raise that is worth retrying later.
TRANSIENT_SEND_ERRORS: tuple[type[BaseException], ...] = (smtplib.SMTPException, OSError)


def _recipient_rows(customer: Customer) -> list[tuple[str, str]]:
    roles = roles_with(Permission.RECEIVE_NOTIFICATIONS)
    return compiled_rows(
        ("accounts.notification_recipients", tuple(roles)),
        lambda customer_id: (
            Membership.objects.filter(customer_id=customer_id, role__in=roles, user__is_active=True)
            .order_by("user__email")
            .values_list("user__email", "user__language")
        ),
        customer.pk,
    )


def notification_recipients(*, customer: Customer) -> list[str]:
    """Who is emailed about server activations and user modifications: from the matrix."""
    return [email for email, _language in _recipient_rows(customer)]


def text_render(template_name: str, context: dict[str, Any]) -> str:
    """A plain-text template rendered without HTML escaping: a text part or a subject shows
    ``O'Neil`` and ``0 -> 3`` as they are (``&#x27;`` would be read literally). HTML parts are
    rendered with ``render_to_string`` and stay escaped."""
    return get_template(template_name).template.render(Context(context, autoescape=False))


def email_render(*, template: str, context: dict[str, Any]) -> tuple[str, str, str]:
    """The subject, text and HTML body of ``templates/email/<template>``, in the active language."""
    return (
        " ".join(text_render(f"email/{template}_subject.txt", context).split())[:255],
        text_render(f"email/{template}.txt", context),
        render_to_string(f"email/{template}.html", context),
    )


def notification_queue(
    *,
    customer: Customer | None,
    event: str,
    template: str,
    context: dict[str, Any],
    recipients: Iterable[str],
    attachments: Sequence[dict[str, str]] = (),
    languages: dict[str, str] | None = None,
    headers: dict[str, dict[str, str]] | None = None,
    render_in_worker: bool = False,
) -> list[Notification]:
    """Renders ``templates/email/<template>{_subject.txt,.txt,.html}`` once per language and
    stores one outbox row per recipient, so each person gets exactly one email, in their
    language, and its delivery is tracked on its own.

    ``headers`` maps a recipient to extra headers of their email only (an unsubscribe
    link is personal). Must run inside the transaction of the change it reports; sending is
    scheduled for after commit.

    ``render_in_worker``: the row keeps the template, the context (plain values and
    ``Deferred`` messages only: ``portal.i18n.json_context``) and the language, and the worker
    that sends it renders it (``notification_send``): rendering three templates was a tenth of
    an activation change's time in the web process (docs/performance.md, "fifth pass"). The
    email is the same; the customer is read again when it is rendered.
    """
    to = sorted({address.strip().lower() for address in recipients if address and address.strip()})
    if not to:
        return []
    # Each person reads the email in the language they chose in the portal; an address
    # without an account (an invitee) gets the language the change was made in.
    fallback = translation.get_language() or settings.LANGUAGE_CODE
    if languages is None:
        languages = dict(
            User.objects.annotate(email_lower=Lower("email"))
            .filter(email_lower__in=to)
            .exclude(language="")
            .values_list("email_lower", "language")
        )
    stored = json_context(context) if render_in_worker else None
    rendered: dict[str, tuple[str, str, str]] = {}
    notifications = []
    for address in to:
        language = languages.get(address, fallback)
        if stored is None and language not in rendered:
            with translation.override(language):
                rendered[language] = email_render(template=template, context=_full_context(customer, context))
        subject, body_text, body_html = rendered.get(language, ("", "", ""))
        notifications.append(
            Notification(
                customer=customer,
                event=event,
                recipients=[address],
                subject=subject,
                body_text=body_text,
                body_html=body_html,
                attachments=list(attachments),
                headers=(headers or {}).get(address, {}),
                template=template if stored is not None else "",
                context=stored,
                language=language if stored is not None else "",
            )
        )
    notifications = rows_insert(notifications)
    ids = [notification.pk for notification in notifications]
    transaction.on_commit(lambda: _enqueue(ids), robust=True)
    return notifications


def _full_context(customer: Customer | None, context: dict[str, Any]) -> dict[str, Any]:
    return {
        "brand": settings.PORTAL_BRAND_NAME,
        "support_email": settings.PORTAL_SUPPORT_EMAIL,
        "portal_url": settings.PORTAL_BASE_URL,
        "customer": customer,
        **context,
    }


def _render_stored(notification: Notification) -> None:
    """A row queued with ``render_in_worker``: its subject and bodies, rendered now in the
    recipient's language from the stored template and context."""
    context = _full_context(notification.customer, context_from_json(notification.context or {}))
    with translation.override(notification.language or settings.LANGUAGE_CODE):
        notification.subject, notification.body_text, notification.body_html = email_render(
            template=notification.template, context=context
        )


def notify_ascs(
    *, customer: Customer, event: str, template: str, context: dict[str, Any], render_in_worker: bool = False
) -> list[Notification]:
    """Tells the customer's ASCs (everyone whose role receives notifications), each in their
    language: the recipients and their languages are one query."""
    rows = _recipient_rows(customer)
    return notification_queue(
        customer=customer,
        event=event,
        template=template,
        context=context,
        recipients=[email for email, _language in rows],
        languages={email.lower(): language for email, language in rows if language},
        render_in_worker=render_in_worker,
    )


def _enqueue(notification_ids: list[int]) -> None:
    from .tasks import notification_send_task

    for notification_id in notification_ids:
        try:
            notification_send_task.delay(notification_id)
        except Exception:  # whatever the broker client raises: the periodic sweep sends it later
            logger.warning("Broker unavailable; notifications %s left for the sweep", notification_ids, exc_info=True)
            return


def notification_send(*, notification_id: int) -> bool:
    """Sends one notification unless it was sent already. Returns True when this call sent it.

    The row stays locked while the email is handed to SMTP, so two workers (a retry and the
    sweep, say) can never both send it; a worker that dies mid-send releases the lock with
    its connection and the email is sent again by the next attempt. A stable Message-ID lets
    the receiving server drop the duplicate in the narrow window after SMTP accepted it.
    A transient SMTP failure is recorded and re-raised for Celery's retry with backoff.
    """
    error: BaseException | None = None
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update(skip_locked=True)
            .filter(pk=notification_id, sent_at__isnull=True)
            .first()
        )
        if notification is None:
            return False
        notification.attempts += 1
        fields = ["attempts", "last_error"]
        if notification.template and not notification.subject:
            _render_stored(notification)
            fields += ["subject", "body_text", "body_html"]  # kept: what was sent, or tried
        try:
            _deliver(notification)
        except TRANSIENT_SEND_ERRORS as exc:
            error = exc
            notification.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            notification.save(update_fields=fields)
        else:
            notification.sent_at = timezone.now()
            notification.last_error = ""
            notification.save(update_fields=[*fields, "sent_at"])
    if error is not None:
        logger.warning(
            "Notification %s (%s) send failed, attempt %s: %s",
            notification_id,
            notification.event,
            notification.attempts,
            type(error).__name__,
        )
        raise error
    logger.info("Notification %s (%s) sent, attempt %s", notification_id, notification.event, notification.attempts)
    return True


def notifications_pending_ids(*, limit: int = 200) -> list[int]:
    """Unsent notifications old enough that their own task should have sent them."""
    cutoff = timezone.now() - settings.PORTAL_NOTIFICATION_SWEEP_AFTER
    return list(
        Notification.objects.filter(sent_at__isnull=True, created_at__lte=cutoff)
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )


def _deliver(notification: Notification) -> None:
    message = EmailMultiAlternatives(
        subject=notification.subject,
        body=notification.body_text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=notification.recipients,
        headers={**(notification.headers or {}), "Message-ID": notification.message_id},
    )
    if notification.body_html:
        message.attach_alternative(notification.body_html, "text/html")
    for attachment in notification.attachments:
        message.attach(attachment["filename"], attachment["content"], attachment.get("mimetype", "text/plain"))
    message.send(fail_silently=False)
