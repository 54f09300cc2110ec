"""Hourly and per-person-per-day rollups from a server's events in time order (no Django).

``RollupBuilder`` wraps a ``Replay`` and turns its changes of licenses-out into rows: per
(daemon, feature, hour) the peak, license-seconds, checkouts, denials, true denials, queue
entries, queue wait and unsupported requests; per (daemon, feature, day, user|host) the
license-seconds, checkouts and denials. Rows that can no longer change (before every open
checkout, every pending denial and every feature's last change) are handed out by
``flush()``, so memory follows what is open, not the length of the log.
"""

from __future__ import annotations

import datetime
import json
import zlib
from collections import defaultdict
from collections.abc import Iterator

from .parsers import DENIED, DEQUEUED, IN, OUT, QUEUED, TRUE_DENIAL_WINDOW, UNSUPPORTED, Event, Replay

HOUR = datetime.timedelta(hours=1)
# Hour row fields, in order.
PEAK, SECONDS, CHECKOUTS, DENIALS, TRUE_DENIALS, QUEUED_N, QUEUE_WAIT, UNSUPPORTED_N = range(8)
HOUR_FIELDS = (
    "peak",
    "license_seconds",
    "checkouts",
    "denials",
    "true_denials",
    "queued",
    "queue_wait_seconds",
    "unsupported",
)
PERSON_FIELDS = ("license_seconds", "checkouts", "denials")

HourKey = tuple[str, str, datetime.datetime]  # daemon, feature, hour
PersonKey = tuple[str, str, datetime.date, str, str]  # daemon, feature, day, "user"|"host", name
Flushed = tuple[list[tuple[HourKey, list[int]]], list[tuple[PersonKey, list[int]]]]


def _hour(time: datetime.datetime) -> datetime.datetime:
    return time.replace(minute=0, second=0, microsecond=0)


_EPOCH = datetime.datetime(1970, 1, 1)


def _seconds(time: datetime.datetime | None) -> int | None:
    return None if time is None else int((time - _EPOCH).total_seconds())


def _time(seconds: int | None) -> datetime.datetime | None:
    return None if seconds is None else _EPOCH + datetime.timedelta(seconds=seconds)


class RollupBuilder:
    def __init__(self) -> None:
        self.replay = Replay()
        self.replay.keep_changes = True
        self.replay.keep_totals = False
        self.hours: dict[HourKey, list[int]] = {}
        self.persons: dict[PersonKey, list[int]] = {}
        self.level: dict[tuple[str, str], tuple[datetime.datetime, int]] = {}  # licenses out since
        self.queued: dict[tuple[str, str, str], list[datetime.datetime]] = defaultdict(list)
        self.events = 0

    def _row(self, daemon: str, feature: str, time: datetime.datetime) -> list[int]:
        key = (daemon, feature, _hour(time))
        row = self.hours.get(key)
        if row is None:
            row = self.hours[key] = [0] * 8
        return row

    def _person(self, daemon: str, feature: str, day: datetime.date, kind: str, name: str) -> list[int]:
        key = (daemon, feature, day, kind, name)
        row = self.persons.get(key)
        if row is None:
            row = self.persons[key] = [0, 0, 0]
        return row

    def _fill(self, daemon: str, feature: str, start: datetime.datetime, end: datetime.datetime, out: int) -> None:
        """``out`` licenses were out from ``start`` to ``end``."""
        while out and start < end:
            slice_end = min(end, _hour(start) + HOUR)
            row = self._row(daemon, feature, start)
            row[SECONDS] += out * int((slice_end - start).total_seconds())
            row[PEAK] = max(row[PEAK], out)
            start = slice_end

    def _spread(self, session_start: datetime.datetime, end: datetime.datetime, keys: list[tuple], count: int) -> None:
        start = session_start
        while start < end:
            day_end = datetime.datetime.combine(start.date() + datetime.timedelta(days=1), datetime.time())
            slice_end = min(end, day_end)
            seconds = count * int((slice_end - start).total_seconds())
            for daemon, feature, kind, name in keys:
                self._person(daemon, feature, start.date(), kind, name)[0] += seconds
            start = slice_end

    def _drain(self) -> None:
        replay = self.replay
        for change in replay.changes:
            key = (change.daemon, change.feature)
            since, level = self.level.get(key, (change.time, 0))
            self._fill(change.daemon, change.feature, since, change.time, level)
            row = self._row(change.daemon, change.feature, change.time)
            row[PEAK] = max(row[PEAK], change.after)
            self.level[key] = (change.time, change.after)
        replay.changes.clear()
        for session in replay.sessions:
            self._spread(
                session.start,
                session.end,
                [
                    (session.daemon, session.feature, "user", session.user),
                    (session.daemon, session.feature, "host", session.host),
                ],
                session.count,
            )
        replay.sessions.clear()
        for denial in replay.denials:
            if denial.true:
                self._row(denial.daemon, denial.feature, denial.time)[TRUE_DENIALS] += 1
        replay.denials.clear()

    def feed(self, event: Event) -> None:
        self.events += 1
        self.replay.feed(event)
        if event.kind in (OUT, IN, DENIED, QUEUED, DEQUEUED, UNSUPPORTED):
            row = self._row(event.daemon, event.feature, event.time)
            day = event.time.date()
            if event.kind == OUT:
                row[CHECKOUTS] += 1
                self._person(event.daemon, event.feature, day, "user", event.user)[1] += 1
                self._person(event.daemon, event.feature, day, "host", event.host)[1] += 1
            elif event.kind == DENIED:
                row[DENIALS] += 1
                self._person(event.daemon, event.feature, day, "user", event.user)[2] += 1
                self._person(event.daemon, event.feature, day, "host", event.host)[2] += 1
            elif event.kind == QUEUED:
                row[QUEUED_N] += 1
                self.queued[(event.daemon, event.feature, event.user)].append(event.time)
            elif event.kind == UNSUPPORTED:
                row[UNSUPPORTED_N] += 1
            if event.kind in (OUT, DEQUEUED):
                waiting = self.queued.get((event.daemon, event.feature, event.user))
                if waiting:
                    row[QUEUE_WAIT] += int((event.time - waiting.pop(0)).total_seconds())
        self._drain()

    def _cutoff(self) -> datetime.datetime | None:
        """Rows before this time can no longer change."""
        now = self.replay.time
        if now is None:
            return None
        cutoff = now - TRUE_DENIAL_WINDOW - HOUR
        for (_daemon, _feature), holders in self.replay.holders.items():
            for held in holders.values():
                if held:
                    cutoff = min(cutoff, held[0][0])
        for since, level in self.level.values():
            if level:
                cutoff = min(cutoff, since)
        return cutoff

    def cut(self) -> tuple[datetime.datetime, datetime.date] | None:
        """The hour and day before which ``flush()`` has handed out every row (None: no event yet)."""
        cutoff = self._cutoff()
        return (_hour(cutoff), cutoff.date()) if cutoff is not None else None

    # -- checkpoints: the whole state after some events, to go on from later (usage.services)
    def state(self) -> bytes:
        """Everything later events can change, compressed: licenses out per feature, open
        checkouts, pending denials, queue entries and the rows not flushed yet. Only what the
        rows depend on: the replay's own per-feature totals (``log_figures``) are not kept."""
        replay = self.replay
        data = {
            "time": _seconds(replay.time),
            "out": [[*key, figures.out] for key, figures in replay.features.items() if figures.out],
            "holders": [
                [*key, user, host, [[_seconds(start), count] for start, count in held]]
                for key, holders in replay.holders.items()
                for (user, host), held in holders.items()
                if held
            ],
            "pending": [
                [_seconds(time), daemon, feature, user, host, count, answered[0]]
                for time, daemon, feature, user, host, count, answered in replay._pending
            ],
            "level": [[*key, _seconds(since), level] for key, (since, level) in self.level.items()],
            "queued": [[*key, [_seconds(t) for t in times]] for key, times in self.queued.items() if times],
            "hours": [[daemon, feature, _seconds(hour), row] for (daemon, feature, hour), row in self.hours.items()],
            "persons": [
                [daemon, feature, day.toordinal(), kind, name, row]
                for (daemon, feature, day, kind, name), row in self.persons.items()
            ],
        }
        return zlib.compress(json.dumps(data, separators=(",", ":")).encode())

    @classmethod
    def from_state(cls, state: bytes) -> RollupBuilder:
        data = json.loads(zlib.decompress(state))
        builder = cls()
        replay = builder.replay
        replay.time = _time(data["time"])
        for daemon, feature, out in data["out"]:
            replay.features[(daemon, feature)].out = out
        for daemon, feature, user, host, held in data["holders"]:
            replay.holders[(daemon, feature)][(user, host)] = [(_time(start), count) for start, count in held]
        for time, daemon, feature, user, host, count, answered in data["pending"]:
            entry = (_time(time), daemon, feature, user, host, count, [answered])
            replay._pending.append(entry)
            replay.pending_denials[(daemon, feature, user)].append(entry)
        builder.level = {(daemon, feature): (_time(since), level) for daemon, feature, since, level in data["level"]}
        for daemon, feature, user, times in data["queued"]:
            builder.queued[(daemon, feature, user)] = [_time(t) for t in times]
        builder.hours = {(daemon, feature, _time(hour)): row for daemon, feature, hour, row in data["hours"]}
        builder.persons = {
            (daemon, feature, datetime.date.fromordinal(day), kind, name): row
            for daemon, feature, day, kind, name, row in data["persons"]
        }
        return builder

    def flush(self, *, final: bool = False) -> Flushed:
        """Rows that are final (every row when ``final``), removed from the builder."""
        if final:
            self.replay.finish()
            self._drain()
            end = self.replay.time
            if end is not None:
                for (daemon, feature), (since, level) in self.level.items():
                    self._fill(daemon, feature, since, end, level)
            hours, persons = list(self.hours.items()), list(self.persons.items())
            self.hours, self.persons = {}, {}
            return hours, persons
        cutoff = self._cutoff()
        if cutoff is None:
            return [], []
        hour_cut, day_cut = _hour(cutoff), cutoff.date()
        hours = [(key, row) for key, row in self.hours.items() if key[2] < hour_cut]
        persons = [(key, row) for key, row in self.persons.items() if key[2] < day_cut]
        for key, _row in hours:
            del self.hours[key]
        for key, _row in persons:
            del self.persons[key]
        return hours, persons


def rollups(events: Iterator[Event]) -> tuple[dict[HourKey, list[int]], dict[PersonKey, list[int]]]:
    """Every rollup row of a stream of events (for tests and small inputs)."""
    builder = RollupBuilder()
    hours: dict[HourKey, list[int]] = {}
    persons: dict[PersonKey, list[int]] = {}
    for event in events:
        builder.feed(event)
    done_hours, done_persons = builder.flush(final=True)
    hours.update(done_hours)
    persons.update(done_persons)
    return hours, persons
