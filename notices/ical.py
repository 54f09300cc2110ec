"""iCalendar (RFC 5545) for renewal dates: pure functions, no queries.

Each date is an all-day event (``DTSTART;VALUE=DATE``, ``DTEND`` the next day) with a
display alarm a week before. UIDs are stable per line, date kind and date, so a calendar
that re-reads the feed updates events instead of duplicating them. Lines end in CRLF and are
folded at 75 octets (never inside a UTF-8 sequence); text is escaped (section 3.3.11).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

PRODID = "-//License Portal//Renewals//EN"
ALARM_BEFORE = "-P7D"


@dataclass(frozen=True)
class CalendarEvent:
    uid: str
    date: datetime.date
    summary: str
    description: str
    url: str = ""


def escape_text(value: str) -> str:
    return (
        value.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
    )


def fold(line: str) -> str:
    """Splits a content line into 75-octet lines joined by CRLF + space (section 3.1)."""
    data = line.encode()
    if len(data) <= 75:
        return line
    parts, start, limit = [], 0, 75
    while start < len(data):
        end = min(start + limit, len(data))
        while end < len(data) and (data[end] & 0xC0) == 0x80:  # not inside a UTF-8 sequence
            end -= 1
        parts.append(data[start:end].decode())
        start, limit = end, 74  # continuation lines begin with a space
    return "\r\n ".join(parts)


def _date(value: datetime.date) -> str:
    return value.strftime("%Y%m%d")


def calendar(*, name: str, events: Iterable[CalendarEvent], stamp: datetime.datetime) -> str:
    stamp_text = stamp.astimezone(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    lines: list[str] = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{escape_text(name)}",
    ]
    for event in events:
        lines += [
            "BEGIN:VEVENT",
            f"UID:{event.uid}",
            f"DTSTAMP:{stamp_text}",
            f"DTSTART;VALUE=DATE:{_date(event.date)}",
            f"DTEND;VALUE=DATE:{_date(event.date + datetime.timedelta(days=1))}",
            f"SUMMARY:{escape_text(event.summary)}",
            f"DESCRIPTION:{escape_text(event.description)}",
            *([f"URL:{event.url}"] if event.url else []),
            "TRANSP:TRANSPARENT",
            "BEGIN:VALARM",
            "ACTION:DISPLAY",
            f"DESCRIPTION:{escape_text(event.summary)}",
            f"TRIGGER:{ALARM_BEFORE}",
            "END:VALARM",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(fold(line) + "\r\n" for line in lines)


def event_uid(*, line_pk: int, kind: str, date: datetime.date, domain: str) -> str:
    return f"{kind}-{line_pk}-{_date(date)}@{domain}"


def events_from(dates: Sequence, *, domain: str, url: str, title, cost) -> list[CalendarEvent]:
    """``selectors.RenewalDate`` rows -> events; ``title(kind=, data=)`` and ``cost(kind=)`` give the words."""
    events = []
    for d in dates:
        data = {"line_id": d.line.line_id, "product": d.line.product.name, "quantity": d.line.quantity}
        events.append(
            CalendarEvent(
                uid=event_uid(line_pk=d.line.pk, kind=d.kind, date=d.date, domain=domain),
                date=d.date,
                summary=title(kind=d.kind, data=data),
                description=cost(kind=d.kind),
                url=url,
            )
        )
    return events
