"""FlexNet debug logs and ``lmutil lmstat -a`` output, read as pure functions (no Django).

A debug log line is ``h:mm:ss (daemon) TEXT``; only ``TIMESTAMP m/d/yyyy`` lines and lmgrd's
``started on HOST (...) (m/d/yyyy)`` line carry a date, and a clock that goes backwards means
the next day. Everything here streams: ``parse_log`` takes any iterable of lines (bytes or
str) and yields one ``Event`` or ``Skipped`` per line that is not plain chatter, so a file of
any size is read in constant memory.

``Replay`` turns events in time order into what a license administrator asks for (licenses
out over time, peaks, license-hours, denials not followed by a checkout). The store
(``usage.services``) feeds it the stored events of a server, so figures from one upload and
from the same log uploaded in pieces are the same by construction.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import gc
import gzip
import io
import itertools
import operator
import re
import types
import zlib
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import repeat
from typing import BinaryIO, NamedTuple

# Event kinds, in the order their counts are reported.
OUT, IN, DENIED, QUEUED, DEQUEUED, UNSUPPORTED, RESTART = (
    "checkout",
    "checkin",
    "denied",
    "queued",
    "dequeued",
    "unsupported",
    "restart",
)
_KEYWORDS = {"OUT": OUT, "IN": IN, "DENIED": DENIED, "QUEUED": QUEUED, "DEQUEUED": DEQUEUED, "UNSUPPORTED": UNSUPPORTED}
EVENT_KINDS = (OUT, IN, DENIED, QUEUED, DEQUEUED, UNSUPPORTED)
# A denial followed by a checkout of the same feature by the same user within this long is
# not a "true" denial: the user got the license by retrying.
TRUE_DENIAL_WINDOW = datetime.timedelta(minutes=10)
MAX_LINE_CHARS = 4096

_LINE = re.compile(r"^\s*(\d{1,2}):(\d\d):(\d\d) \(([^()\s]{1,64})\) (.*)$")
_EVENT = re.compile(r'^(OUT|IN|DENIED|QUEUED|DEQUEUED|UNSUPPORTED): "([^"]{1,255})" ([^@"]{1,255}?)@(\S{1,255})(.*)$')
_COUNT = re.compile(r"\((\d{1,6}) licenses?\)")
_TIMESTAMP = re.compile(r"^TIMESTAMP (\d{1,2})/(\d{1,2})/(\d{4})\s*$")
_STARTED = re.compile(r"started on (\S+) \(.*\) \((\d{1,2})/(\d{1,2})/(\d{4})\)\s*$")
_FAST_KINDS = {keyword.encode(): kind for keyword, kind in _KEYWORDS.items()}
_ONE_DAY = datetime.timedelta(days=1)
_SECONDS = [datetime.timedelta(seconds=s) for s in range(86400)]


class Event(NamedTuple):
    """One event line (a tuple: millions are made per upload, so it must be cheap)."""

    line: int  # 1-based physical line number in the upload
    time: datetime.datetime  # naive: the license server's local time
    daemon: str
    kind: str
    feature: str = ""
    user: str = ""
    host: str = ""
    count: int = 1
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Skipped:
    line: int
    reason: str


@dataclass
class LogSummary:
    """What one pass over a log saw: for the upload's report."""

    lines: int = 0
    lines_seen: int = 0  # kept up to date by the caller while streaming
    events: int = 0
    skipped: int = 0
    server_host: str = ""


class UnreadableLog(ValueError):
    """The byte stream cannot be read on (a truncated or corrupt gzip file)."""


def open_lines(stream: BinaryIO) -> Iterator[bytes]:
    """The physical lines of a plain or gzip-compressed byte stream, read lazily.

    Raises ``UnreadableLog`` where a compressed stream turns out corrupt (the lines before it
    have been yielded)."""
    head = stream.read(2)
    stream.seek(0)
    if head != b"\x1f\x8b":
        yield from stream
        return
    try:
        yield from io.BufferedReader(gzip.GzipFile(fileobj=stream), buffer_size=1 << 20)  # type: ignore[arg-type]
    except (EOFError, OSError, zlib.error) as error:
        raise UnreadableLog(f"corrupt gzip data: {error}") from error


def _text(raw: bytes | str) -> str:
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    return raw.rstrip("\r\n")


def _date(month: str, day: str, year: str) -> datetime.date | None:
    try:
        return datetime.date(int(year), int(month), int(day))
    except ValueError:
        return None


# The fast path. A plain event line of a dated log is ``HH:MM:SS HEAD" TAIL``: a fixed-width
# clock (``10:00:00`` or `` 9:00:00``), a head (``(daemon) OUT: "feature``) and a tail
# (``user@host``, optional count and reason). One regular expression cuts every line of a block
# into these four pieces (in C); each distinct piece is validated once by the expressions below
# and cached, and the events of the block are made column by column with ``map`` (no Python
# code runs per line). Any line a piece of which does not validate goes to the careful path,
# which reads every line (and reports junk). The fast expressions accept printable ASCII only
# and nothing the careful path would read otherwise (a count inside the reason, "started on"),
# so both paths give the same events: ``tests/usage/test_parsers.py`` checks that property.
_PIECES = re.compile(rb'^(.{6})(.{3})([^"\n]*"[^"\n]*)" ([^\n]*)$|^([^\n]*)$', re.MULTILINE)
_FAST_HOURS = {b"%2d:%02d:" % (h, m): h * 3600 + m * 60 for h in range(24) for m in range(60)}
_FAST_HOURS.update({b"%02d:%02d:" % (h, m): h * 3600 + m * 60 for h in range(10) for m in range(60)})
_FAST_SECONDS = {b"%02d " % s: s for s in range(60)}
_FAST_HEAD = re.compile(rb'\(([!-\'*-~]{1,64})\) (OUT|IN|DENIED|QUEUED|DEQUEUED|UNSUPPORTED): "([ !#-~]{1,255})')
_FAST_TAIL = re.compile(
    rb"([!#-?A-~]{1,255})@([!-~]{1,255})(?:  \(([1-9]\d{0,5}) licenses?\))?(?:  \(([ -~]{1,255})\))?[ \t\r]{0,64}"
)
_MISSING = object()
CACHE_ENTRIES = 50_000  # per cache; cleared when full (a log of distinct lines stays bounded)
_MAKE_EVENT = functools.partial(tuple.__new__, Event)
_add = operator.add
BLOCK_BYTES = 4 * 1024 * 1024


def _compiled_scanner() -> types.ModuleType | None:
    """``usage._flexscan`` (built by ``make install``: ``setup.py``), ready; None where it was
    not built (no C compiler): the pure-Python fast path reads the same, only slower."""
    try:
        from usage import _flexscan
    except ImportError:
        return None
    _flexscan.setup(Event, EVENT_KINDS, "", _ONE_DAY)
    return _flexscan


def open_blocks(stream: BinaryIO, size: int = 1 << 20) -> Iterator[bytes]:
    """A plain or gzip-compressed byte stream in blocks of about ``size`` bytes (any cut)."""
    head = stream.read(2)
    stream.seek(0)
    if head != b"\x1f\x8b":
        while block := stream.read(size):
            yield block
        return
    source = gzip.GzipFile(fileobj=stream)
    try:
        while block := source.read(size):
            yield block
    except (EOFError, OSError, zlib.error) as error:
        raise UnreadableLog(f"corrupt gzip data: {error}") from error


def _fast_head(head: bytes) -> tuple[str, str, str] | None:
    """Daemon, kind and feature of a plain event line, or None (careful path)."""
    match = _FAST_HEAD.fullmatch(head)
    if match is None:
        return None
    daemon, keyword, feature = match.groups()
    return daemon.decode(), _FAST_KINDS[keyword], feature.decode()


def _fast_tail(tail: bytes) -> tuple[str, str, int, str] | None:
    """User, host, count and reason of a plain event line, or None (careful path)."""
    match = _FAST_TAIL.fullmatch(tail)
    if match is None or b"started on" in tail:
        return None
    user, host, count, reason = match.groups()
    if len(_COUNT_BYTES.findall(tail)) != (1 if count else 0):  # the careful path reads any "(N licenses)"
        return None
    return user.decode(), host.decode(), int(count) if count else 1, reason.decode() if reason else ""


_COUNT_BYTES = re.compile(rb"\((\d{1,6}) licenses?\)")


def _looked_up(cache: dict, pieces: tuple[bytes, ...], read: Callable[[bytes], object]) -> list:
    """The cached reading of each piece; pieces not seen before are read (and cached) first."""
    found = list(map(cache.get, pieces, repeat(_MISSING)))
    if _MISSING in found:
        if len(cache) > CACHE_ENTRIES:
            cache.clear()
            return _looked_up(cache, pieces, read)
        for position in _positions(found, _MISSING):
            piece = pieces[position]
            found[position] = cache[piece] = cache[piece] if piece in cache else read(piece)
    return found


def _positions(column: list, value: object) -> Iterator[int]:
    start = 0
    try:
        while True:
            start = column.index(value, start) + 1
            yield start - 1
    except ValueError:
        return


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off while a block's tuples are made (none forms a cycle):
    otherwise it runs every 700 of them and doubles the cost of the block."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _Columns(NamedTuple):
    """The lines of a block cut into pieces (``_PIECES``), and the cached readings of each."""

    clocks: tuple[bytes, ...]  # "HH:MM:" of a line of the plain shape, else b""
    rests: tuple[bytes, ...]  # "SS "
    heads: tuple[bytes, ...]
    tails: tuple[bytes, ...]
    others: tuple[bytes, ...]  # a line not of that shape, whole
    hours: list[int | None]
    seconds: list[int | None]
    whats: list[tuple | None]
    whos: list[tuple | None]

    def line(self, position: int) -> bytes:
        if self.clocks[position] or self.heads[position]:
            return b'%s%s%s" %s' % (
                self.clocks[position],
                self.rests[position],
                self.heads[position],
                self.tails[position],
            )
        return self.others[position]


class _Reader:
    """The date state of one pass over a log, and the careful reading of unusual lines."""

    def __init__(self, summary: LogSummary) -> None:
        self.summary = summary
        self.day: datetime.date | None = None
        self.day_start: datetime.datetime | None = None
        self.last_seconds = -1
        self.number = 0
        self.heads: dict[bytes, tuple | None] = {}
        self.tails: dict[bytes, tuple | None] = {}

    def block(self, block: bytes) -> list[Event | Skipped]:
        """Every line of ``block`` (no final newline), in order: plain event lines of a dated
        log read by the compiled scanner (or column by column without it), any other line by
        ``careful``."""
        if SCANNER is None:
            return self._columns_block(block)
        items: list[Event | Skipped] = []
        offset, size = 0, len(block)
        with _collector_paused():
            while offset <= size:
                offset, self.day, self.last_seconds, self.number, events = SCANNER.scan(
                    block, offset, self.day, self.last_seconds, self.number, items
                )
                self.summary.events += events
                if offset > size:
                    break
                end = block.find(b"\n", offset)
                end = size if end < 0 else end
                self.number += 1
                self._careful_into(items, self.number, block[offset:end])
                offset = end + 1
        return items

    def _careful_into(self, items: list, number: int, raw: bytes) -> None:
        item = self.careful(number, raw)
        if item is not None:
            items.append(item)

    def _columns_block(self, block: bytes) -> list[Event | Skipped]:
        """``block`` without the compiled scanner: the plain lines column by column."""
        with _collector_paused():
            clocks, rests, heads, tails, others = zip(*_PIECES.findall(block), strict=True)
            columns = _Columns(
                clocks,
                rests,
                heads,
                tails,
                others,
                list(map(_FAST_HOURS.get, clocks)),
                list(map(_FAST_SECONDS.get, rests)),
                _looked_up(self.heads, heads, _fast_head),
                _looked_up(self.tails, tails, _fast_tail),
            )
            unusual = {*_positions(columns.hours, None), *_positions(columns.seconds, None)}
            unusual.update(_positions(columns.whats, None), _positions(columns.whos, None))
            items: list[Event | Skipped] = []
            start = 0
            for position in [*sorted(unusual), len(clocks)]:
                if start < position:
                    self._plain(items, columns, start, position)
                if position < len(clocks):
                    self._careful_at(items, columns, position)
                start = position + 1
        self.number += len(clocks)
        return items

    def _careful_at(self, items: list, columns: _Columns, position: int) -> None:
        self._careful_into(items, self.number + position + 1, columns.line(position))

    def _plain(self, items: list, columns: _Columns, start: int, end: int) -> None:
        """Lines ``start:end`` of the block, each a plain event line: events, dated by the
        reader's day and the clock going backwards (the next day)."""
        if self.day is None:  # no date yet: the careful path reports each line
            for position in range(start, end):
                self._careful_at(items, columns, position)
            return
        seconds = list(map(_add, columns.hours[start:end], columns.seconds[start:end]))
        backwards = list(map(operator.lt, seconds, [self.last_seconds, *seconds[:-1]]))
        bounds = [0, *_positions(backwards, True), len(seconds)]
        for index, (first, last) in enumerate(itertools.pairwise(bounds)):
            if index:
                self.day += _ONE_DAY
                self.day_start = None
            if first == last:
                continue
            if self.day_start is None:
                self.day_start = datetime.datetime.combine(self.day, datetime.time())
            times = map(self.day_start.__add__, map(_SECONDS.__getitem__, seconds[first:last]))
            numbers = range(self.number + start + first + 1, self.number + start + last + 1)
            heads = map(_add, zip(numbers, times, strict=True), columns.whats[start + first : start + last])
            items.extend(map(_MAKE_EVENT, map(_add, heads, columns.whos[start + first : start + last])))
        self.last_seconds = seconds[-1]
        self.summary.events += end - start

    def careful(self, number: int, raw: bytes) -> Event | Skipped | None:
        """One line that is not a plain event line of a dated log: a date line, an lmgrd start,
        chatter (nothing), junk (``Skipped`` with the reason), or an unusual event line."""
        summary = self.summary
        self.day_start = None
        if len(raw) > MAX_LINE_CHARS:
            summary.skipped += 1
            return Skipped(number, "line too long")
        text = _text(raw)
        if not text.strip():
            return None
        match = _LINE.match(text)
        if match is None:
            summary.skipped += 1
            return Skipped(number, "not a log line (h:mm:ss (daemon) ...)")
        hours, minutes, seconds, daemon, rest = match.groups()
        if int(hours) > 23 or int(minutes) > 59 or int(seconds) > 59:
            summary.skipped += 1
            return Skipped(number, "invalid time of day")
        seconds_of_day = int(hours) * 3600 + int(minutes) * 60 + int(seconds)
        if rest.startswith("TIMESTAMP") or "started on" in rest:
            dated = self._date_line(number, seconds_of_day, daemon, rest)
            if dated is not False:
                return dated
        event = _EVENT.match(rest)
        if event is None:  # chatter: lmgrd messages, "EXTERNAL FILTERS are OFF", ...
            if self.day is not None:
                if seconds_of_day < self.last_seconds:
                    self.day += _ONE_DAY
                self.last_seconds = seconds_of_day
            return None
        return self._event_line(number, seconds_of_day, daemon, event)

    def _date_line(self, number: int, seconds_of_day: int, daemon: str, rest: str) -> Event | Skipped | bool | None:
        """A TIMESTAMP line (None, or Skipped when its date is invalid) or an lmgrd start (a
        RESTART event); False when the line is neither after all."""
        summary = self.summary
        if rest.startswith("TIMESTAMP"):
            stamp = _TIMESTAMP.match(rest)
            when = stamp and _date(*stamp.groups())
            if not when:
                summary.skipped += 1
                return Skipped(number, "invalid TIMESTAMP date")
            self.day, self.last_seconds = when, seconds_of_day
            return None
        started = _STARTED.search(rest)
        when = _date(*started.groups()[1:]) if started else None
        if not started or not when:
            return False
        self.day, self.last_seconds = when, seconds_of_day
        summary.server_host = summary.server_host or started.group(1)
        summary.events += 1
        return Event(
            number, datetime.datetime.combine(when, datetime.time()) + _SECONDS[seconds_of_day], daemon, RESTART
        )

    def _event_line(self, number: int, seconds_of_day: int, daemon: str, event: re.Match) -> Event | Skipped:
        summary = self.summary
        if self.day is None:
            summary.skipped += 1
            return Skipped(number, "event before any TIMESTAMP line: date unknown")
        keyword, feature, user, host, tail = event.groups()
        count_match = _COUNT.search(tail)
        count = int(count_match.group(1)) if count_match else 1
        if count < 1:
            summary.skipped += 1
            return Skipped(number, "license count must be positive")
        if seconds_of_day < self.last_seconds:
            self.day += _ONE_DAY
        self.last_seconds = seconds_of_day
        reason = _COUNT.sub("", tail).strip()
        if reason.startswith("(") and reason.endswith(")"):
            reason = reason[1:-1]
        summary.events += 1
        return Event(
            number,
            datetime.datetime.combine(self.day, datetime.time()) + _SECONDS[seconds_of_day],
            daemon,
            _KEYWORDS[keyword],
            feature,
            user.strip(),
            host,
            count,
            reason[:255],
        )


SCANNER = _compiled_scanner()


def parse_log(chunks: Iterable[bytes | str], summary: LogSummary | None = None) -> Iterator[Event | Skipped]:
    """Events of a debug log (lmgrd and any number of vendor daemons interleaved).

    ``chunks`` are lines or blocks of any size, cut anywhere (``open_blocks``). Yields
    ``Skipped`` for a line that is not a log line at all (junk, binary, too long, or an event
    before any line gave a date) and nothing for lmgrd/daemon chatter. An lmgrd ``started on``
    line yields a ``RESTART`` event: whatever was out is released then.
    """
    return itertools.chain.from_iterable(parse_log_blocks(chunks, summary))


def parse_log_blocks(chunks: Iterable[bytes | str], summary: LogSummary | None = None) -> Iterator[list]:
    """``parse_log`` a block (about ``BLOCK_BYTES``) at a time: lists of its items in order."""
    summary = summary if summary is not None else LogSummary()
    reader = _Reader(summary)
    buffer: list[bytes] = []
    size = 0
    overlong = False  # inside a line longer than any block: skipped up to its end
    for chunk in chunks:
        if isinstance(chunk, str):
            chunk = chunk.encode("utf-8", "surrogateescape")
        if overlong:
            cut = chunk.find(b"\n")
            if cut < 0:
                continue
            chunk, overlong = chunk[cut + 1 :], False
        buffer.append(chunk)
        size += len(chunk)
        if size < BLOCK_BYTES and len(buffer) < 20000:
            continue
        block = b"".join(buffer)
        cut = block.rfind(b"\n")
        if cut < 0:
            if size > BLOCK_BYTES:  # one line bigger than a block: not a log line
                reader.number += 1
                summary.skipped += 1
                yield [Skipped(reader.number, "line too long")]
                buffer, size, overlong = [], 0, True
            continue
        yield reader.block(block[:cut])
        buffer = [block[cut + 1 :]]
        size = len(buffer[0])
    if buffer:
        block = b"".join(buffer)
        if block:
            yield reader.block(block[:-1] if block.endswith(b"\n") else block)
    summary.lines = reader.number


# --- replay: licenses out over time --------------------------------------------------------


@dataclass
class FeatureFigures:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(EVENT_KINDS, 0))
    licenses_out: int = 0
    out: int = 0  # licenses out now
    peak: int = 0
    license_seconds: int = 0
    true_denials: int = 0
    daily_peak: dict[datetime.date, int] = field(default_factory=dict)
    first_day: datetime.date | None = None
    last_day: datetime.date | None = None


@dataclass(frozen=True, slots=True)
class Change:
    """Licenses out of one feature changed at ``time`` (from ``before`` to ``after``)."""

    time: datetime.datetime
    daemon: str
    feature: str
    before: int
    after: int


@dataclass(frozen=True, slots=True)
class Denial:
    time: datetime.datetime
    daemon: str
    feature: str
    user: str
    host: str
    count: int
    true: bool  # not followed by a checkout of the feature by the user within the window


@dataclass(frozen=True, slots=True)
class Session:
    """One checkout, from OUT to IN (or to an lmgrd restart, or still open at ``end``)."""

    daemon: str
    feature: str
    user: str
    host: str
    count: int
    start: datetime.datetime
    end: datetime.datetime
    closed: bool


class Replay:
    """Feeds events in time order; keeps who holds what and the per-feature figures.

    An IN releases the same user@host's licenses of the feature (as many as it names);
    an IN with nothing out for that user@host (the OUT fell before the log began, or a
    restart already released it) changes nothing. A RESTART releases everything.
    """

    def __init__(self) -> None:
        self.features: dict[tuple[str, str], FeatureFigures] = defaultdict(FeatureFigures)
        self.holders: dict[tuple[str, str], dict[tuple[str, str], list[tuple[datetime.datetime, int]]]] = defaultdict(
            lambda: defaultdict(list)
        )
        self.last_time: dict[tuple[str, str], datetime.datetime] = {}
        # Denials waiting for their window to pass, in time order; per (daemon, feature, user)
        # the same entries, so a checkout finds the ones it answers.
        self._pending: deque[tuple] = deque()
        self.pending_denials: dict[tuple[str, str, str], list[tuple]] = defaultdict(list)
        self.changes: list[Change] = []
        self.sessions: list[Session] = []
        self.denials: list[Denial] = []
        self.time: datetime.datetime | None = None
        self.keep_changes = False
        # The per-feature totals of ``log_figures`` (license-seconds, a peak per day): they grow
        # with the days of the log, and the rollups (``keep_changes``) do not need them.
        self.keep_totals = True

    # -- integration
    def _advance(self, key: tuple[str, str], figures: FeatureFigures, time: datetime.datetime) -> None:
        if not self.keep_totals:
            return
        last = self.last_time.get(key)
        if last is not None and figures.out:
            figures.license_seconds += figures.out * int((time - last).total_seconds())
            day = last.date() + datetime.timedelta(days=1)
            while day <= time.date():  # licenses out at midnight count for the next day
                figures.daily_peak[day] = max(figures.daily_peak.get(day, 0), figures.out)
                day += datetime.timedelta(days=1)
        self.last_time[key] = time

    def _touch_day(self, figures: FeatureFigures, day: datetime.date) -> None:
        if not self.keep_totals:
            return
        if figures.first_day is None:
            figures.first_day = day
        figures.last_day = day
        figures.daily_peak.setdefault(day, figures.out)

    def _set_out(self, key: tuple[str, str], figures: FeatureFigures, time: datetime.datetime, out: int) -> None:
        if out == figures.out:
            return
        if self.keep_changes:
            self.changes.append(Change(time, key[0], key[1], figures.out, out))
        figures.out = out
        if self.keep_totals:
            figures.peak = max(figures.peak, out)
            day = time.date()
            figures.daily_peak[day] = max(figures.daily_peak.get(day, 0), out)

    def _decide_denials(self, now: datetime.datetime | None) -> None:
        """Denials whose window has passed by ``now`` (all of them when None) are decided."""
        while self._pending and (now is None or self._pending[0][0] + TRUE_DENIAL_WINDOW < now):
            time, daemon, feature, user, host, count, answered = self._pending.popleft()
            self.pending_denials[(daemon, feature, user)].pop(0)
            if not answered[0]:
                self.features[(daemon, feature)].true_denials += 1
            self.denials.append(Denial(time, daemon, feature, user, host, count, not answered[0]))

    def feed(self, event: Event) -> None:
        self.time = event.time
        if self._pending:
            self._decide_denials(event.time)
        if event.kind == RESTART:
            for key, holders in self.holders.items():
                figures = self.features[key]
                self._advance(key, figures, event.time)
                for (user, host), held in holders.items():
                    for start, count in held:
                        self.sessions.append(Session(key[0], key[1], user, host, count, start, event.time, True))
                holders.clear()
                self._set_out(key, figures, event.time, 0)
            return
        key = (event.daemon, event.feature)
        figures = self.features[key]
        figures.counts[event.kind] += 1
        if event.kind == OUT:
            self._advance(key, figures, event.time)
            self._touch_day(figures, event.time.date())
            figures.licenses_out += event.count
            self.holders[key][(event.user, event.host)].append((event.time, event.count))
            self._set_out(key, figures, event.time, figures.out + event.count)
            # A checkout within the window (exclusive of the denial's own second) answers denials.
            for entry in self.pending_denials.get((event.daemon, event.feature, event.user), ()):
                if entry[0] < event.time:
                    entry[6][0] = True
        elif event.kind == IN:
            self._advance(key, figures, event.time)
            self._touch_day(figures, event.time.date())
            held = self.holders[key].get((event.user, event.host))
            released = 0
            to_release = event.count
            while held and to_release > 0:
                start, count = held[0]
                take = min(count, to_release)
                self.sessions.append(Session(key[0], key[1], event.user, event.host, take, start, event.time, True))
                released += take
                to_release -= take
                if take == count:
                    held.pop(0)
                else:
                    held[0] = (start, count - take)
            if released:
                self._set_out(key, figures, event.time, figures.out - released)
        elif event.kind == DENIED:
            entry = (event.time, event.daemon, event.feature, event.user, event.host, event.count, [False])
            self._pending.append(entry)
            self.pending_denials[(event.daemon, event.feature, event.user)].append(entry)

    def finish(self, end: datetime.datetime | None = None) -> None:
        """Decides the remaining denials; checkouts still open stay open until ``end``."""
        self._decide_denials(None)
        end = end or self.time
        if end is None:
            return
        for key, holders in self.holders.items():
            for (user, host), held in holders.items():
                for start, count in held:
                    self.sessions.append(Session(key[0], key[1], user, host, count, start, max(start, end), False))


def log_figures(lines: Iterable[bytes | str]) -> dict:
    """The figures of one debug log, as ``samples/flexlm-logs/*.expected.json`` states them."""
    replay = Replay()
    totals: dict[str, int] = dict.fromkeys(EVENT_KINDS, 0)
    summary = LogSummary()
    for item in parse_log(lines, summary):
        if isinstance(item, Event):
            if item.kind != RESTART:
                totals[item.kind] += 1
            replay.feed(item)
    replay.finish()
    features = {}
    for (daemon, feature), figures in sorted(replay.features.items()):
        daily: dict[str, int] = {}
        if figures.first_day is not None and figures.last_day is not None:
            day = figures.first_day
            while day <= figures.last_day:
                daily[day.isoformat()] = figures.daily_peak.get(day, 0)
                day += datetime.timedelta(days=1)
        features[f"{daemon}/{feature}"] = {
            **figures.counts,
            "licenses_out": figures.licenses_out,
            "peak": figures.peak,
            "license_hours": round(figures.license_seconds / 3600, 2),
            "true_denials": figures.true_denials,
            "daily_peak": daily,
        }
    return {
        "events": {kind: count for kind, count in totals.items() if count},
        "features": features,
        "physical_lines": summary.lines,
    }


# --- lmstat -a -----------------------------------------------------------------------------

_STATUS_DATE = re.compile(r"status on \w+ (\d{1,2})/(\d{1,2})/(\d{4}) (\d{1,2}):(\d\d)")
_SERVER = re.compile(r"License server status: (\d+)@(\S+)")
_SERVER_UP = re.compile(r"^\s*(\S+): license server (\S+)(?: \([^)]*\))?\s*(v\S+)?")
_VENDOR = re.compile(r"^\s*(\S+): (UP|DOWN)\b")
_USERS_OF = re.compile(r"^Users of ([^:\s]+):\s*\((.*)\)\s*$")
_ISSUED = re.compile(r"Total of (\d+) licenses? issued")
_IN_USE = re.compile(r"Total of (\d+) licenses? in use")
_USER_LINE = re.compile(
    r"^\s+(.+?) (\S+) (\S+) \(v[^)]*\) \([^)]*\), start \w+ (\d{1,2})/(\d{1,2}) (\d{1,2}):(\d\d)"
    r"(?:, (\d+) licenses?)?\s*$"
)


def _snapshot_time(match: re.Match) -> datetime.datetime | None:
    month, day, year, hour, minute = (int(g) for g in match.groups())
    try:
        return datetime.datetime(year, month, day, hour, minute)
    except ValueError:
        return None


def _feature_totals(totals: str) -> dict:
    issued = _ISSUED.search(totals)
    in_use = _IN_USE.search(totals)
    feature: dict = {
        "issued": int(issued.group(1)) if issued else None,
        "in_use": int(in_use.group(1)) if in_use else 0,
        "users": [],
    }
    if "Uncounted" in totals:
        feature["uncounted"] = True
    return feature


def _holder(match: re.Match, snapshot: datetime.datetime | None) -> dict:
    """One user line; the start has no year: the snapshot's, or the year before when later."""
    user, host, _display, month, day, hour, minute, licenses = match.groups()
    start = None
    if snapshot is not None:
        try:
            start = datetime.datetime(snapshot.year, int(month), int(day), int(hour), int(minute))
            if start > snapshot:
                start = start.replace(year=snapshot.year - 1)
        except ValueError:
            start = None
    return {
        "user": user,
        "host": host,
        "start": start.isoformat(timespec="minutes") if start else None,
        "licenses": int(licenses) if licenses else 1,
    }


def _server_line(text: str, server: dict) -> bool:
    if match := _SERVER.search(text):
        server.update(port=int(match.group(1)), host=match.group(2))
        return True
    if (match := _SERVER_UP.match(text)) and "license server" in text:
        server["status"] = match.group(2)
        if match.group(3):
            server["version"] = match.group(3)
        return True
    return False


def parse_lmstat(lines: Iterable[bytes | str]) -> dict:
    """An ``lmutil lmstat -a`` snapshot: the server, its vendor daemons, and per feature the
    licenses issued, in use and who holds them."""
    result: dict = {"server": {}, "snapshot_time": None, "vendors": {}, "features": {}}
    snapshot: datetime.datetime | None = None
    feature: dict | None = None
    in_vendors = False
    for raw in lines:
        text = _text(raw)[:MAX_LINE_CHARS]
        if match := _STATUS_DATE.search(text):
            snapshot = _snapshot_time(match)
            result["snapshot_time"] = snapshot.isoformat(timespec="minutes") if snapshot else None
        elif _server_line(text, result["server"]):
            continue
        elif text.startswith(("Vendor daemon status", "Feature usage info")):
            in_vendors = text.startswith("Vendor")
        elif in_vendors and (match := _VENDOR.match(text)):
            result["vendors"][match.group(1)] = match.group(2)
        elif match := _USERS_OF.match(text):
            feature = result["features"][match.group(1)] = _feature_totals(match.group(2))
        elif feature is not None and (match := _USER_LINE.match(text)):
            feature["users"].append(_holder(match, snapshot))
    return result
