"""Every write of renewals and notifications.

The daily run (``notices_daily_run``, beat every hour, idempotent) does three things:

1. ``reminders_create``: for each batch of customers with a line due today, one bell row per
   member per reminder (``PortalNotification``, unique per person and key: line, date kind,
   date, step), written with ``ON CONFLICT DO NOTHING``, so a second run adds nothing.
2. ``digests_send``: per person and category, the rows not yet emailed go into one email
   through the accounts outbox, in the reader's language, when their frequency makes it due
   today. ``DigestEmail`` (unique per person, category and day) is inserted in the same
   transaction as the outbox row and the rows' ``emailed_at``: a worker killed before commit
   leaves nothing, one killed after leaves the outbox to finish the send (which survives a
   killed worker itself, accounts.notifications).
3. ``reseller_digest_send``: the reseller's list for the day, once (``ResellerDigest.day``).
"""

from __future__ import annotations

import datetime
import itertools
import logging
import secrets
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone, translation

from accounts.access import authorize
from accounts.audit import audit_record
from accounts.models import Customer, User
from accounts.models import Notification as OutboxEmail
from accounts.notifications import notification_queue
from accounts.roles import Permission
from entitlements.models import Entitlement

from . import selectors
from .models import (
    Category,
    CustomerRenewalSettings,
    DigestEmail,
    Frequency,
    Kind,
    NotificationPreference,
    PortalNotification,
    ResellerDigest,
)
from .rules import describe, digest_due, end_kind, reminder_window
from .unsubscribe import unsubscribe_headers, unsubscribe_url

logger = logging.getLogger(__name__)

BATCH_CUSTOMERS = 500
DIGEST_EVENT = "notices.digest"


def _unread_changed(user_ids: Iterable[int]) -> None:
    """After commit, the bell's cached count of these people is dropped (selectors.unread_count)."""
    keys = [selectors.unread_cache_key(pk) for pk in set(user_ids)]
    if not keys:
        return

    def drop() -> None:
        try:
            cache.delete_many(keys)
        except Exception:
            logger.warning("cache unavailable; unread counts refresh within %ss", selectors.UNREAD_CACHE_SECONDS)

    transaction.on_commit(drop)


# --- Reminders ------------------------------------------------------------------------------


@dataclass
class RunResult:
    customers: int = 0
    reminders: int = 0
    emails: int = 0
    reseller_lines: int = 0


def notices_daily_run(*, today: datetime.date | None = None) -> RunResult:
    """Reminders, digests and the reseller's digest for ``today``. Safe to run any number of
    times a day, concurrently too: every write is keyed."""
    today = today or timezone.localdate()
    result = reminders_create(today=today)
    result.emails = digests_send(today=today)
    result.reseller_lines = reseller_digest_send(today=today)
    return result


def reminders_create(*, today: datetime.date, batch_size: int = BATCH_CUSTOMERS) -> RunResult:
    result = RunResult()
    customer_ids = selectors.reminder_customer_ids(today=today)
    result.customers = len(customer_ids)
    for start in range(0, len(customer_ids), batch_size):
        result.reminders += _reminders_for_batch(customer_ids[start:start + batch_size], today=today)
    return result


def _reminder_data(line: Entitlement, *, date: datetime.date, step: int, manager: CustomerRenewalSettings | None,
                   recommendation: str) -> dict:
    return {
        "line_id": line.line_id, "product": line.product.name, "feature": line.product.feature,
        "quantity": line.quantity, "date": date.isoformat(), "step": step,
        "customer_number": line.customer.number, "customer_name": line.customer.name,
        "manager_name": manager.account_manager_name if manager else "",
        "manager_email": manager.account_manager_email if manager else "",
        "manager_phone": manager.account_manager_phone if manager else "",
        "recommendation": recommendation,
    }


@transaction.atomic
def _reminders_for_batch(customer_ids: Sequence[int], *, today: datetime.date) -> int:
    """Bell rows for one batch: five queries (lines, members, settings, insert, plus the
    usage recommendations per customer when that app is installed)."""
    window = reminder_window(today)
    lines = list(selectors.reminder_lines(customer_ids=customer_ids, today=today).select_related("customer"))
    members = selectors.members_of(customer_ids=customer_ids)
    managers = selectors.renewal_settings_for(customer_ids=customer_ids)
    rows: list[PortalNotification] = []
    for customer_id, group in itertools.groupby(lines, key=lambda line: line.customer_id):
        group = list(group)
        recipients = members.get(customer_id, [])
        if not recipients:
            continue
        recommendations = selectors.recommendations_for(customer=group[0].customer, lines=group, today=today)
        for line in group:
            dates = (
                (line.end_date, end_kind(line.product.licensing_model), line.renewed_end),
                (line.tecs_end_date, Kind.TECS_END, line.renewed_tecs),
            )
            for date, kind, renewed in dates:
                if date is None or renewed or date not in window:
                    continue
                step = window[date]
                data = _reminder_data(line, date=date, step=step, manager=managers.get(customer_id),
                                      recommendation=recommendations.get(line.pk, ""))
                key = f"reminder:{line.pk}:{kind}:{date.isoformat()}:{step}"
                rows.extend(
                    PortalNotification(user_id=r.user_id, customer_id=customer_id, category=Category.RENEWALS,
                                       kind=kind, key=key, data=data)
                    for r in recipients
                )
    if rows:
        PortalNotification.objects.bulk_create(rows, ignore_conflicts=True, batch_size=5000)
        _unread_changed(row.user_id for row in rows)
    return len(rows)


# --- Digest emails ----------------------------------------------------------------------------


def digests_send(*, today: datetime.date) -> int:
    """One email per person per category for what waits for them, when due today. Returns how
    many emails were queued. Queries: two per category for the frequencies, then a bounded
    handful per email."""
    waiting = list(
        PortalNotification.objects.filter(emailed_at__isnull=True, category__in=Category.values)
        .values_list("user_id", "category").distinct().order_by("user_id", "category")
    )
    by_category: dict[str, list[int]] = defaultdict(list)
    for user_id, category in waiting:
        by_category[category].append(user_id)
    sent = 0
    for category, user_ids in by_category.items():
        frequencies = selectors.frequencies_for(user_ids=user_ids, category=Category(category))
        never = [pk for pk in user_ids if frequencies[pk] == Frequency.NEVER]
        if never:
            PortalNotification.objects.filter(
                user_id__in=never, category=category, emailed_at__isnull=True
            ).update(emailed_at=timezone.now())
        due = [pk for pk in user_ids if digest_due(frequency=frequencies[pk], today=today)]
        users = {u.pk: u for u in User.objects.filter(pk__in=due, is_active=True)}
        for user_id in due:
            if user_id in users and digest_send(user=users[user_id], category=Category(category), today=today):
                sent += 1
    return sent


def _language_of(user: User) -> str:
    language = user.language or settings.LANGUAGE_CODE
    return language if translation.check_for_language(language) else settings.LANGUAGE_CODE


def _describe_items(items: Sequence[PortalNotification], *, today: datetime.date) -> list[dict]:
    """The email's sections, one per customer, in the active language."""
    sections: dict[object, dict] = {}
    for item in sorted(items, key=lambda n: (n.data.get("customer_number", ""), n.data.get("date", ""), n.key)):
        described = describe(kind=item.kind, data=item.data, today=today)
        number = item.data.get("customer_number") or (item.customer.number if item.customer else "")
        section = sections.setdefault(number, {
            "number": number,
            "name": item.data.get("customer_name") or (item.customer.name if item.customer else ""),
            "manager_name": item.data.get("manager_name", ""), "manager_email": item.data.get("manager_email", ""),
            "manager_phone": item.data.get("manager_phone", ""),
            "renewals_url": settings.PORTAL_BASE_URL + reverse("renewals:list", args=[number]) if number else "",
            "items": [],
        })
        section["items"].append({"title": described.title, "cost": described.cost,
                                 "recommendation": item.data.get("recommendation", "")})
    return list(sections.values())


def digest_send(*, user: User, category: Category, today: datetime.date) -> bool:
    """Queues the person's one email of the day for the category, unless it was queued
    already today or nothing waits. Returns True when this call queued it."""
    with transaction.atomic():
        items = list(
            PortalNotification.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(user=user, category=category, emailed_at__isnull=True)
            .select_related("customer").order_by("created_at", "id")
        )
        if not items:
            return False
        try:
            with transaction.atomic():
                digest = DigestEmail.objects.create(user=user, category=category, day=today, items=len(items))
        except IntegrityError:
            return False  # today's email went out already; these wait for tomorrow's
        language = _language_of(user)
        with translation.override(language):
            context = {
                "user": user, "category": category, "category_label": str(Category(category).label),
                "sections": _describe_items(items, today=today), "today": today,
                "unsubscribe_url": unsubscribe_url(user=user, category=category),
                "settings_url": settings.PORTAL_BASE_URL + reverse("notices:settings"),
                "notifications_url": settings.PORTAL_BASE_URL + reverse("notices:list"),
            }
        customers = {item.customer_id for item in items}
        emails = notification_queue(
            customer=items[0].customer if len(customers) == 1 else None,
            event=f"{DIGEST_EVENT}.{category}", template="notices_digest", context=context,
            recipients=[user.email], languages={user.email.lower(): language},
            headers={user.email.lower(): unsubscribe_headers(user=user, category=category)},
        )
        digest.email = emails[0] if emails else None
        digest.save(update_fields=["email"])
        PortalNotification.objects.filter(pk__in=[item.pk for item in items]).update(emailed_at=timezone.now())
    return True


# --- Events published by other apps ---------------------------------------------------------


def notice_publish(
    *, customer: Customer | None, users: Sequence[User], category: Category, key: str, title: str, body: str = ""
) -> int:
    """An event for these people (a usage threshold, a new API token, an MFA change): a bell
    row each, once per ``key``; those who chose "immediately" are emailed now, the others
    in their next digest. ``title`` and ``body`` are in the language the event was made in."""
    if not users:
        return 0
    rows = PortalNotification.objects.bulk_create(
        [PortalNotification(user=u, customer=customer, category=category, kind=Kind.MESSAGE, key=key,
                            data={"title": title, "body": body}) for u in users],
        ignore_conflicts=True,
    )
    _unread_changed(u.pk for u in users)
    frequencies = selectors.frequencies_for(user_ids=[u.pk for u in users], category=category)
    today = timezone.localdate()
    for user in users:
        if frequencies[user.pk] == Frequency.IMMEDIATELY:
            _event_email(user=user, category=category, key=key, today=today)
    return len(rows)


def _event_email(*, user: User, category: Category, key: str, today: datetime.date) -> None:
    items = list(
        PortalNotification.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(user=user, key=key, emailed_at__isnull=True).select_related("customer")
    )
    if not items:
        return
    language = _language_of(user)
    with translation.override(language):
        context = {
            "user": user, "category": category, "category_label": str(Category(category).label),
            "sections": _describe_items(items, today=today), "today": today,
            "unsubscribe_url": unsubscribe_url(user=user, category=category),
            "settings_url": settings.PORTAL_BASE_URL + reverse("notices:settings"),
            "notifications_url": settings.PORTAL_BASE_URL + reverse("notices:list"),
        }
    notification_queue(
        customer=items[0].customer, event=f"notices.event.{category}", template="notices_digest", context=context,
        recipients=[user.email], languages={user.email.lower(): language},
        headers={user.email.lower(): unsubscribe_headers(user=user, category=category)},
    )
    PortalNotification.objects.filter(pk__in=[i.pk for i in items]).update(emailed_at=timezone.now())


def outbox_mirror(*, limit: int = 1000) -> int:
    """The bell shows the same events as the emails: each outbox email to a portal user about
    a customer (activations, user changes, budget alerts) becomes a bell row for that user.
    Digest emails are left out (their rows are the source). Idempotent by the outbox id."""
    last = PortalNotification.objects.aggregate(m=Max("outbox_id"))["m"]
    emails = list(
        OutboxEmail.objects.filter(pk__gt=int(last or 0), customer__isnull=False)
        .exclude(event__startswith="notices.").order_by("pk").values("pk", "customer_id", "event", "subject",
                                                                      "recipients", "created_at")[:limit]
    )
    if not emails:
        return 0
    addresses = {r.lower() for e in emails for r in e["recipients"]}
    users = dict(
        User.objects.annotate(email_lower=Lower("email")).filter(email_lower__in=addresses, is_active=True)
        .values_list("email_lower", "pk")
    )
    rows = [
        PortalNotification(user_id=users[r.lower()], customer_id=e["customer_id"], category="required",
                           kind=Kind.MESSAGE, key=f"outbox:{e['pk']}", created_at=e["created_at"],
                           emailed_at=e["created_at"], outbox_id=e["pk"],
                           data={"title": e["subject"], "event": e["event"]})
        for e in emails for r in e["recipients"] if r.lower() in users
    ]
    with transaction.atomic():
        PortalNotification.objects.bulk_create(rows, ignore_conflicts=True)
        _unread_changed(row.user_id for row in rows)
    return len(rows)


# --- The reseller ------------------------------------------------------------------------------


def reseller_digest_send(*, today: datetime.date) -> int:
    """The reseller's daily list (lines ending in 90/30/7 days), emailed once a day to
    ``RESELLER_DIGEST_EMAIL``. Returns the number of lines listed (0 when already sent)."""
    with transaction.atomic():
        try:
            with transaction.atomic():
                digest = ResellerDigest.objects.create(day=today)
        except IntegrityError:
            return 0
        lines = selectors.reseller_lines(today=today)
        digest.lines = len(lines)
        if lines:
            with translation.override(settings.LANGUAGE_CODE):
                rows = []
                for d in lines:
                    manager = getattr(d.line.customer, "renewal_settings", None)
                    rows.append({"d": d, "days": (d.date - today).days,
                                 "manager": manager.account_manager_name if manager else "",
                                 "title": describe(kind=d.kind, data={
                                     "line_id": d.line.line_id, "product": d.line.product.name,
                                     "quantity": d.line.quantity, "date": d.date.isoformat()}, today=today).title})
                emails = notification_queue(
                    customer=None, event="notices.reseller_digest", template="notices_reseller_digest",
                    context={"rows": rows, "today": today,
                             "console_url": settings.PORTAL_BASE_URL + reverse("admin:notices_renewalline_changelist")},
                    recipients=[settings.RESELLER_DIGEST_EMAIL], languages={},
                )
            digest.email = emails[0] if emails else None
        digest.save(update_fields=["lines", "email"])
    return len(lines)


# --- Preferences, the bell, the calendar ----------------------------------------------------------


@transaction.atomic
def preferences_set(*, user: User, choices: dict[str, str], via: str = "settings") -> None:
    """Stores the person's frequency per category (only the categories given)."""
    now = timezone.now()
    for category, frequency in choices.items():
        NotificationPreference.objects.update_or_create(
            user=user, category=Category(category),
            defaults={"frequency": Frequency(frequency), "updated_at": now},
        )
    audit_record(customer=None, actor=user, action="notices.preferences_changed", target=user.email,
                 details={"via": via, **{str(k): str(v) for k, v in choices.items()}})


def unsubscribe(*, user: User, category: Category) -> None:
    """What an unsubscribe link does: the category set to never (already checked signed)."""
    preferences_set(user=user, choices={category: Frequency.NEVER}, via="unsubscribe_link")


@transaction.atomic
def notifications_mark_read(*, user: User, ids: Sequence[int] | None = None) -> int:
    """Marks the person's notifications read: those ``ids`` (other people's are ignored), or all."""
    queryset = PortalNotification.objects.filter(user=user, read_at__isnull=True)
    if ids is not None:
        queryset = queryset.filter(pk__in=list(ids))
    count = queryset.update(read_at=timezone.now())
    _unread_changed([user.pk])
    return count


def calendar_token_rotate(*, customer: Customer, actor: User, revoke: bool = False) -> CustomerRenewalSettings:
    """A new secret for the customer's calendar feed (every old URL stops working), or none
    at all (``revoke``). ASC and Administrator (the licensing settings permission); audited."""
    action = "calendar.revoked" if revoke else "calendar.rotated"
    authorize(actor=actor, customer=customer, permission=Permission.MANAGE_LICENSING_SETTINGS, action=action)
    with transaction.atomic():
        found, _ = CustomerRenewalSettings.objects.select_for_update().get_or_create(customer=customer)
        found.calendar_token = "" if revoke else secrets.token_urlsafe(32)
        found.calendar_rotated_at = timezone.now()
        found.save(update_fields=["calendar_token", "calendar_rotated_at"])
        audit_record(customer=customer, actor=actor, action=action, target=customer.number)
    return found


@transaction.atomic
def renewal_settings_update(
    *, customer: Customer, actor: User, account_manager_name: str, account_manager_email: str,
    account_manager_phone: str = "",
) -> CustomerRenewalSettings:
    """Support staff name the customer's account manager (shown in reminders). Audited."""
    if not (actor.is_active and actor.is_staff):
        authorize(actor=actor, customer=customer, permission=Permission.MANAGE_LICENSING_SETTINGS,
                  action="renewal_settings.update")
        raise PermissionError("support staff only")  # pragma: no cover - authorize raised for non-staff
    found, _ = CustomerRenewalSettings.objects.select_for_update().get_or_create(customer=customer)
    found.account_manager_name = account_manager_name.strip()
    found.account_manager_email = account_manager_email.strip().lower()
    found.account_manager_phone = account_manager_phone.strip()
    found.save(update_fields=["account_manager_name", "account_manager_email", "account_manager_phone"])
    audit_record(customer=customer, actor=actor, action="renewal_settings.updated", target=customer.number,
                 details={"account_manager": found.account_manager_email})
    return found
