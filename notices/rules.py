"""The rules of renewals, as data: when to remind, who hears what by default, and what a
lapse costs in plain words. Pure: no queries, so tests and the digest share them."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass

from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.roles import Role

from .models import Category, Frequency, Kind

# Days before a date (negative: after it) on which a reminder goes out.
REMINDER_STEPS: tuple[int, ...] = (90, 30, 14, 7, -1)
# A run missed (beat down for a day, a deploy) is caught up this many days later; the
# reminder's key stops a second one for the same step.
CATCH_UP_DAYS = 2
# The reseller hears about these steps only (the sales team's cadence).
RESELLER_STEPS: tuple[int, ...] = (90, 30, 7)

# Sensible defaults per role: the people who renew hear at once; Viewers read a weekly
# summary of renewals and nothing about usage; everyone hears about their own security.
DEFAULTS: Mapping[Role, Mapping[Category, Frequency]] = {
    Role.ASC: {
        Category.RENEWALS: Frequency.IMMEDIATELY,
        Category.USAGE: Frequency.IMMEDIATELY,
        Category.SECURITY: Frequency.IMMEDIATELY,
    },
    Role.ADMINISTRATOR: {
        Category.RENEWALS: Frequency.IMMEDIATELY,
        Category.USAGE: Frequency.DAILY,
        Category.SECURITY: Frequency.IMMEDIATELY,
    },
    Role.VIEWER: {
        Category.RENEWALS: Frequency.WEEKLY,
        Category.USAGE: Frequency.NEVER,
        Category.SECURITY: Frequency.IMMEDIATELY,
    },
}
# For a person with several memberships, the strongest role decides the default.
ROLE_STRENGTH: tuple[Role, ...] = (Role.ASC, Role.ADMINISTRATOR, Role.VIEWER)
# A person without membership (support staff) gets the Viewer's defaults.
NO_ROLE = Role.VIEWER


def default_frequency(*, roles: set[str], category: Category | str) -> Frequency:
    for role in ROLE_STRENGTH:
        if role in roles:
            return Frequency(DEFAULTS[role][Category(category)])
    return Frequency(DEFAULTS[NO_ROLE][Category(category)])


def digest_due(*, frequency: Frequency | str, today: datetime.date) -> bool:
    """Whether the day's digest run emails what a member has waiting: weekly on Mondays."""
    if frequency == Frequency.WEEKLY:
        return today.weekday() == 0
    return frequency in (Frequency.IMMEDIATELY, Frequency.DAILY)


def reminder_window(today: datetime.date) -> dict[datetime.date, int]:
    """Every date a reminder may be due for today -> the step it belongs to."""
    dates: dict[datetime.date, int] = {}
    for step in REMINDER_STEPS:
        for late in range(CATCH_UP_DAYS + 1):
            dates[today + datetime.timedelta(days=step - late)] = step
    return dates


def end_kind(licensing_model: str) -> Kind:
    """What an entitlement line's end date means for its licensing model."""
    return {"elastic": Kind.ELASTIC_CREDIT, "shared_web": Kind.SHARED_WEB_TOKENS}.get(licensing_model, Kind.LINE_END)


@dataclass(frozen=True)
class Described:
    title: str
    cost: str


def describe(*, kind: str, data: Mapping, today: datetime.date) -> Described:
    """A notification's words in the active language: what ends, when, and what lapsing costs."""
    if kind == Kind.MESSAGE:
        return Described(title=str(data.get("title", "")), cost=str(data.get("body", "")))
    date = datetime.date.fromisoformat(data["date"])
    when = date_format(date, "SHORT_DATE_FORMAT")
    days = (date - today).days
    if days > 0:
        relative = ngettext("in %(days)d day", "in %(days)d days", days) % {"days": days}
    elif days == 0:
        relative = _("today")
    else:
        relative = ngettext("%(days)d day ago", "%(days)d days ago", -days) % {"days": -days}
    values = {
        "product": data["product"],
        "line": data["line_id"],
        "quantity": data["quantity"],
        "date": when,
        "relative": relative,
    }
    ended = days < 0
    cost = lapse_cost(kind=kind)
    if kind == Kind.TECS_END:
        title = (
            _("TECS of %(product)s (line %(line)s, %(quantity)s) ended on %(date)s (%(relative)s)")
            if ended
            else _("TECS of %(product)s (line %(line)s, %(quantity)s) ends on %(date)s (%(relative)s)")
        )
    elif kind == Kind.ELASTIC_CREDIT:
        title = (
            _("Elastic credit of %(product)s (line %(line)s, %(quantity)s units) expired on %(date)s (%(relative)s)")
            if ended
            else _(
                "Elastic credit of %(product)s (line %(line)s, %(quantity)s units) expires on %(date)s (%(relative)s)"
            )
        )
    elif kind == Kind.SHARED_WEB_TOKENS:
        title = (
            _("Shared Web tokens of %(product)s (line %(line)s, %(quantity)s) expired on %(date)s (%(relative)s)")
            if ended
            else _("Shared Web tokens of %(product)s (line %(line)s, %(quantity)s) expire on %(date)s (%(relative)s)")
        )
    else:
        title = (
            _("License %(product)s (line %(line)s, %(quantity)s) ended on %(date)s (%(relative)s)")
            if ended
            else _("License %(product)s (line %(line)s, %(quantity)s) ends on %(date)s (%(relative)s)")
        )
    return Described(title=title % values, cost=cost)


def lapse_cost(*, kind: str) -> str:
    """What lapsing costs, in plain words."""
    if kind == Kind.TECS_END:
        return _(
            "Without TECS you get no technical support and no new versions. Renewing after it lapses "
            "means paying for the missed time as well as a reinstatement fee, so renewing on time costs less."
        )
    if kind == Kind.ELASTIC_CREDIT:
        return _("Credit not used by then is lost, and Elastic sessions stop when no credit is left.")
    if kind == Kind.SHARED_WEB_TOKENS:
        return _("After that day your users cannot start new Shared Web sessions with these tokens.")
    return _(
        "On that day the licenses stop working on your license servers: engineers cannot start the "
        "product until a renewal is activated."
    )


def short_title(*, kind: str, data: Mapping) -> str:
    """A date's one-line name without "when" (calendar events, the renewals page)."""
    values = {"product": data["product"], "line": data["line_id"], "quantity": data["quantity"]}
    if kind == Kind.TECS_END:
        text = _("TECS ends: %(product)s (line %(line)s, %(quantity)s)")
    elif kind == Kind.ELASTIC_CREDIT:
        text = _("Elastic credit expires: %(product)s (line %(line)s, %(quantity)s units)")
    elif kind == Kind.SHARED_WEB_TOKENS:
        text = _("Shared Web tokens expire: %(product)s (line %(line)s, %(quantity)s)")
    else:
        text = _("License ends: %(product)s (line %(line)s, %(quantity)s)")
    return text % values
