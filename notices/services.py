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
import json
import logging
import secrets
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext

from accounts.access import authorize, authorize_staff
from accounts.audit import audit_record
from accounts.models import Customer, User
from accounts.models import Notification as OutboxEmail
from accounts.notifications import email_render, notification_queue
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
    OutboxMirrorMark,
    PortalNotification,
    ResellerDigest,
)
from .rules import describe, digest_due, end_kind, reminder_window
from .unsubscribe import unsubscribe_headers, unsubscribe_url

logger = logging.getLogger(__name__)

BATCH_CUSTOMERS = 500
BATCH_USERS = 500
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
        result.reminders += _reminders_for_batch(customer_ids[start : start + batch_size], today=today)
    return result


def _reminder_data(
    line: Entitlement, *, date: datetime.date, step: int, manager: CustomerRenewalSettings | None, recommendation: str
) -> dict:
    return {
        "line_id": line.line_id,
        "product": line.product.name,
        "feature": line.product.feature,
        "quantity": line.quantity,
        "date": date.isoformat(),
        "step": step,
        "customer_number": line.customer.number,
        "customer_name": line.customer.name,
        "manager_name": manager.account_manager_name if manager else "",
        "manager_email": manager.account_manager_email if manager else "",
        "manager_phone": manager.account_manager_phone if manager else "",
        "recommendation": recommendation,
    }


@dataclass(frozen=True)
class Reminder:
    """One reminder of one line, once (not per recipient): what ``reminder_listener_register``
    listeners receive. ``key`` is the bell rows' key, the same on every run that finds it."""

    customer_id: int
    key: str
    kind: str
    data: dict


# Called with the batch's reminders inside the transaction that writes their bell rows (apps
# further up register here, e.g. the API's webhooks; this app does not import them).
_reminder_listeners: list[Callable[[list[Reminder]], None]] = []


def reminder_listener_register(listener: Callable[[list[Reminder]], None]) -> None:
    """Registers ``listener(reminders)``; it runs in the daily run's transaction and must only
    write rows (an outbox) and schedule work ``on_commit``. A run that finds the same reminder
    again (catch-up days, a second run) passes it again: listeners dedupe by ``key``."""
    if listener not in _reminder_listeners:
        _reminder_listeners.append(listener)


@transaction.atomic
def _reminders_for_batch(customer_ids: Sequence[int], *, today: datetime.date) -> int:
    """Bell rows for one batch: five queries (lines, members, settings, insert, plus the
    usage recommendations per customer when that app is installed)."""
    window = reminder_window(today)
    lines = list(selectors.reminder_lines(customer_ids=customer_ids, today=today).select_related("customer"))
    members = selectors.members_of(customer_ids=customer_ids)
    managers = selectors.renewal_settings_for(customer_ids=customer_ids)
    rows: list[PortalNotification] = []
    reminders: list[Reminder] = []
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
                data = _reminder_data(
                    line,
                    date=date,
                    step=step,
                    manager=managers.get(customer_id),
                    recommendation=recommendations.get(line.pk, ""),
                )
                key = f"reminder:{line.pk}:{kind}:{date.isoformat()}:{step}"
                reminders.append(Reminder(customer_id, key, str(kind), data))
                rows.extend(
                    PortalNotification(
                        user_id=r.user_id,
                        customer_id=customer_id,
                        category=Category.RENEWALS,
                        kind=kind,
                        key=key,
                        data=data,
                    )
                    for r in recipients
                )
    if rows:
        PortalNotification.objects.bulk_create(rows, ignore_conflicts=True, batch_size=5000)
        _unread_changed(row.user_id for row in rows)
    for listener in _reminder_listeners:
        listener(reminders)
    return len(rows)


# --- Digest emails ----------------------------------------------------------------------------


def digests_send(*, today: datetime.date, batch_size: int = BATCH_USERS) -> int:
    """One email per person per category for what waits for them, when due today. Returns how
    many emails were queued. Queries: one for who has something waiting, two per category for
    the frequencies, then five per batch of ``batch_size`` people (``_digest_batch``)."""
    waiting = list(
        PortalNotification.objects.filter(emailed_at__isnull=True, category__in=Category.values)
        .values_list("user_id", "category")
        .distinct()
        .order_by("user_id", "category")
    )
    by_category: dict[str, list[int]] = defaultdict(list)
    for user_id, category in waiting:
        by_category[category].append(user_id)
    sent = 0
    for category, user_ids in by_category.items():
        frequencies = selectors.frequencies_for(user_ids=user_ids, category=Category(category))
        never = [pk for pk in user_ids if frequencies[pk] == Frequency.NEVER]
        if never:
            PortalNotification.objects.filter(user_id__in=never, category=category, emailed_at__isnull=True).update(
                emailed_at=timezone.now()
            )
        due = [pk for pk in user_ids if digest_due(frequency=frequencies[pk], today=today)]
        for start in range(0, len(due), batch_size):
            sent += _digest_batch(due[start : start + batch_size], category=Category(category), today=today)
    return sent


def digest_send(*, user: User, category: Category, today: datetime.date) -> bool:
    """Queues the person's one email of the day for the category, unless it was queued
    already today or nothing waits. Returns True when this call queued it."""
    return _digest_batch([user.pk], category=category, today=today) == 1


def _language_of(user: User) -> str:
    language = user.language or settings.LANGUAGE_CODE
    return language if translation.check_for_language(language) else settings.LANGUAGE_CODE


def _describe_items(items: Sequence[PortalNotification], *, today: datetime.date) -> list[dict]:
    """The email's sections, one per customer, in the active language."""
    sections: dict[object, dict] = {}
    for item in sorted(items, key=lambda n: (n.data.get("customer_number", ""), n.data.get("date", ""), n.key)):
        described = describe(kind=item.kind, data=item.data, today=today)
        number = item.data.get("customer_number") or (item.customer.number if item.customer else "")
        section = sections.setdefault(
            number,
            {
                "number": number,
                "name": item.data.get("customer_name") or (item.customer.name if item.customer else ""),
                "manager_name": item.data.get("manager_name", ""),
                "manager_email": item.data.get("manager_email", ""),
                "manager_phone": item.data.get("manager_phone", ""),
                "renewals_url": settings.PORTAL_BASE_URL + reverse("renewals:list", args=[number]) if number else "",
                "items": [],
            },
        )
        section["items"].append(
            {"title": described.title, "cost": described.cost, "recommendation": item.data.get("recommendation", "")}
        )
    return list(sections.values())


# Rendered once per language and content, then made personal: colleagues at one customer get
# the same reminders, so most digests of a day are rendered once, not once per reader.
_UNSUBSCRIBE_SLOT = "notices-unsubscribe-slot"


def _render_digest(
    *, items: Sequence[PortalNotification], category: Category, language: str, today: datetime.date
) -> tuple[str, str, str]:
    with translation.override(language):
        context = {
            "brand": settings.PORTAL_BRAND_NAME,
            "support_email": settings.PORTAL_SUPPORT_EMAIL,
            "portal_url": settings.PORTAL_BASE_URL,
            "category": category,
            "category_label": str(Category(category).label),
            "sections": _describe_items(items, today=today),
            "today": today,
            "unsubscribe_url": _UNSUBSCRIBE_SLOT,
            "settings_url": settings.PORTAL_BASE_URL + reverse("notices:settings"),
            "notifications_url": settings.PORTAL_BASE_URL + reverse("notices:list"),
        }
        return email_render(template="notices_digest", context=context)


_DIGEST_INSERT = (
    "INSERT INTO notices_digestemail (user_id, category, day, items, created_at) "
    "SELECT u, %s, %s, n, %s FROM unnest(%s::bigint[], %s::int[]) AS t(u, n) "
    "ON CONFLICT (user_id, category, day) DO NOTHING RETURNING id, user_id"
)


def _digests_insert(by_user: dict[int, list], *, category: Category, today: datetime.date) -> dict[int, int]:
    """user id -> id of the ``DigestEmail`` inserted now, leaving out whoever has today's
    already. One statement on PostgreSQL; one savepoint per person elsewhere (SQLite, ``make run``)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                _DIGEST_INSERT, [category, today, timezone.now(), list(by_user), [len(v) for v in by_user.values()]]
            )
            return {user_id: digest_id for digest_id, user_id in cursor.fetchall()}
    inserted = {}
    for user_id, items in by_user.items():
        try:
            with transaction.atomic():
                digest = DigestEmail.objects.create(user_id=user_id, category=category, day=today, items=len(items))
        except IntegrityError:
            continue
        inserted[user_id] = digest.pk
    return inserted


def _waiting_by_user(user_ids: Sequence[int], *, category: Category) -> dict[int, list[PortalNotification]]:
    """The rows waiting for an email, per active person, locked (skip locked: a concurrent run
    takes the others). Must run inside the caller's transaction."""
    items = (
        PortalNotification.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(user_id__in=list(user_ids), category=category, emailed_at__isnull=True)
        .select_related("customer", "user")
        .order_by("user_id", "created_at", "id")
    )
    by_user: dict[int, list[PortalNotification]] = defaultdict(list)
    for item in items:
        if item.user.is_active:
            by_user[item.user_id].append(item)
    return by_user


def _digest_emails(
    by_user: dict[int, list[PortalNotification]], *, category: Category, today: datetime.date
) -> dict[int, OutboxEmail]:
    """One unsaved outbox row per person, each rendered in the reader's language."""
    rendered: dict[tuple, tuple[str, str, str]] = {}
    emails = {}
    for user_id, user_items in by_user.items():
        user = user_items[0].user
        language = _language_of(user)
        signature = (language, tuple((i.kind, json.dumps(i.data, sort_keys=True)) for i in user_items))
        if signature not in rendered:
            rendered[signature] = _render_digest(items=user_items, category=category, language=language, today=today)
        subject, text, html = rendered[signature]
        link = unsubscribe_url(user=user, category=category)
        customers = {i.customer_id for i in user_items}
        emails[user_id] = OutboxEmail(
            customer_id=user_items[0].customer_id if len(customers) == 1 else None,
            event=f"{DIGEST_EVENT}.{category}",
            recipients=[user.email.lower()],
            subject=subject,
            body_text=text.replace(_UNSUBSCRIBE_SLOT, link),
            body_html=html.replace(_UNSUBSCRIBE_SLOT, link),
            headers={"List-Unsubscribe": f"<{link}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
        )
    return emails


def _digest_batch(user_ids: Sequence[int], *, category: Category, today: datetime.date) -> int:
    """The day's email for each of these people, in one transaction: their waiting rows are
    locked, a ``DigestEmail`` is inserted per person unless one exists for today (ON CONFLICT
    DO NOTHING: that person's email went out already; their rows wait for tomorrow), and the
    outbox rows and the rows' ``emailed_at`` are written. The emails are sent after commit,
    in batches, by the worker."""
    with transaction.atomic():
        by_user = _waiting_by_user(user_ids, category=category)
        if not by_user:
            return 0
        inserted = _digests_insert(by_user, category=category, today=today)
        by_user = {user_id: items for user_id, items in by_user.items() if user_id in inserted}
        if not by_user:
            return 0
        emails = _digest_emails(by_user, category=category, today=today)
        OutboxEmail.objects.bulk_create(list(emails.values()))
        DigestEmail.objects.bulk_update(
            [DigestEmail(pk=inserted[user_id], email_id=email.pk) for user_id, email in emails.items()], ["email"]
        )
        PortalNotification.objects.filter(pk__in=[item.pk for items in by_user.values() for item in items]).update(
            emailed_at=timezone.now()
        )
        ids = [email.pk for email in emails.values()]
        transaction.on_commit(lambda: _enqueue_batches(ids), robust=True)
    return len(ids)


SEND_BATCH = 100
MIRROR_FIRST_RUN = datetime.timedelta(days=7)


def _enqueue_batches(ids: list[int]) -> None:
    """One task per hundred emails (publishing one per email was most of a large run's time);
    what cannot be published is sent by the outbox sweep."""
    from .tasks import notices_send_batch

    for start in range(0, len(ids), SEND_BATCH):
        try:
            notices_send_batch.delay(ids[start : start + SEND_BATCH])
        except Exception:  # whatever the broker client raises: the periodic sweep sends them
            logger.warning("Broker unavailable; digest emails left for the outbox sweep", exc_info=True)
            return


# --- Events published by other apps ---------------------------------------------------------


@transaction.atomic
def notice_publish(
    *, customer: Customer | None, users: Sequence[User], category: Category, key: str, title: str, body: str = ""
) -> int:
    """An event for these people (a usage threshold, a new API token, an MFA change): a bell
    row each, once per ``key``; those who chose "immediately" are emailed now, the others
    in their next digest. ``title`` and ``body`` are in the language the event was made in."""
    if not users:
        return 0
    rows = PortalNotification.objects.bulk_create(
        [
            PortalNotification(
                user=u,
                customer=customer,
                category=category,
                kind=Kind.MESSAGE,
                key=key,
                data={"title": title, "body": body},
            )
            for u in users
        ],
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
        .filter(user=user, key=key, emailed_at__isnull=True)
        .select_related("customer")
    )
    if not items:
        return
    language = _language_of(user)
    with translation.override(language):
        context = {
            "user": user,
            "category": category,
            "category_label": str(Category(category).label),
            "sections": _describe_items(items, today=today),
            "today": today,
            "unsubscribe_url": unsubscribe_url(user=user, category=category),
            "settings_url": settings.PORTAL_BASE_URL + reverse("notices:settings"),
            "notifications_url": settings.PORTAL_BASE_URL + reverse("notices:list"),
        }
    notification_queue(
        customer=items[0].customer,
        event=f"notices.event.{category}",
        template="notices_digest",
        context=context,
        recipients=[user.email],
        languages={user.email.lower(): language},
        headers={user.email.lower(): unsubscribe_headers(user=user, category=category)},
    )
    PortalNotification.objects.filter(pk__in=[i.pk for i in items]).update(emailed_at=timezone.now())


@transaction.atomic
def outbox_mirror(*, limit: int = 1000) -> int:
    """The bell shows the same events as the emails: each outbox email to a portal user about
    a customer (activations, user changes, budget alerts) becomes a bell row for that user.
    Digest emails are left out (their rows are the source). Reads from a mark that only moves
    forward (locked, so two sweeps never read the same emails); the rows' keys make a repeat
    harmless anyway."""
    mark, created = OutboxMirrorMark.objects.select_for_update().get_or_create(pk=1)
    source = OutboxEmail.objects.filter(pk__gt=mark.last_outbox_id)
    if created:  # the first run after deployment: last week's emails, not the whole history
        source = source.filter(created_at__gte=timezone.now() - MIRROR_FIRST_RUN)
    emails = list(
        source.order_by("pk").values("pk", "customer_id", "event", "subject", "recipients", "created_at")[:limit]
    )
    if not emails:
        return 0
    mark.last_outbox_id = emails[-1]["pk"]
    mark.save(update_fields=["last_outbox_id"])
    emails = [e for e in emails if e["customer_id"] and not e["event"].startswith("notices.")]
    addresses = {r.lower() for e in emails for r in e["recipients"]}
    users = dict(
        User.objects.annotate(email_lower=Lower("email"))
        .filter(email_lower__in=addresses, is_active=True)
        .values_list("email_lower", "pk")
    )
    rows = [
        PortalNotification(
            user_id=users[r.lower()],
            customer_id=e["customer_id"],
            category="required",
            kind=Kind.MESSAGE,
            key=f"outbox:{e['pk']}",
            created_at=e["created_at"],
            emailed_at=e["created_at"],
            outbox_id=e["pk"],
            data={"title": e["subject"], "event": e["event"]},
        )
        for e in emails
        for r in e["recipients"]
        if r.lower() in users
    ]
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
                    rows.append(
                        {
                            "d": d,
                            "days": (d.date - today).days,
                            "manager": manager.account_manager_name if manager else "",
                            "title": describe(
                                kind=d.kind,
                                data={
                                    "line_id": d.line.line_id,
                                    "product": d.line.product.name,
                                    "quantity": d.line.quantity,
                                    "date": d.date.isoformat(),
                                },
                                today=today,
                            ).title,
                        }
                    )
                emails = notification_queue(
                    customer=None,
                    event="notices.reseller_digest",
                    template="notices_reseller_digest",
                    context={
                        "rows": rows,
                        "today": today,
                        "console_url": settings.PORTAL_BASE_URL + reverse("admin:notices_renewalline_changelist"),
                    },
                    recipients=[settings.RESELLER_DIGEST_EMAIL],
                    languages={},
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
            user=user,
            category=Category(category),
            defaults={"frequency": Frequency(frequency), "updated_at": now},
        )
    audit_record(
        customer=None,
        actor=user,
        action="notices.preferences_changed",
        target=user.email,
        details={"via": via, **{str(k): str(v) for k, v in choices.items()}},
    )


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


def renewal_settings_update(
    *,
    customer: Customer,
    actor: User,
    account_manager_name: str,
    account_manager_email: str,
    account_manager_phone: str = "",
) -> CustomerRenewalSettings:
    """Support staff name the customer's account manager (shown in reminders). Audited."""
    authorize_staff(actor=actor, customer=customer, action="renewal_settings.update")
    with transaction.atomic():
        return _renewal_settings_write(
            customer=customer,
            actor=actor,
            name=account_manager_name,
            email=account_manager_email,
            phone=account_manager_phone,
        )


def _renewal_settings_write(
    *, customer: Customer, actor: User, name: str, email: str, phone: str
) -> CustomerRenewalSettings:
    found, _ = CustomerRenewalSettings.objects.select_for_update().get_or_create(customer=customer)
    found.account_manager_name = name.strip()
    found.account_manager_email = email.strip().lower()
    found.account_manager_phone = phone.strip()
    found.save(update_fields=["account_manager_name", "account_manager_email", "account_manager_phone"])
    audit_record(
        customer=customer,
        actor=actor,
        action="renewal_settings.updated",
        target=customer.number,
        details={"account_manager": found.account_manager_email},
    )
    return found


def security_event_publish(*, user: User, change: str, method: str) -> int:
    """A two-factor change on the person's account (allauth's MFA signals): a security
    notification for them, in their language, emailed as their preference says."""
    with translation.override(_language_of(user)):
        titles = {
            "added": gettext("A two-factor authentication method was added to your account (%(method)s)."),
            "removed": gettext("A two-factor authentication method was removed from your account (%(method)s)."),
            "reset": gettext("Your two-factor recovery codes were regenerated (%(method)s)."),
        }
        title = titles.get(change, titles["reset"]) % {"method": method}
        body = gettext("If this was not you, change your password and contact %(support)s at once.") % {
            "support": settings.PORTAL_SUPPORT_EMAIL
        }
    return notice_publish(
        customer=None,
        users=[user],
        category=Category.SECURITY,
        key=f"mfa:{change}:{method}:{timezone.now().isoformat()}",
        title=title,
        body=body,
    )
