"""Realistic FlexNet debug logs, generated (no Django): for the demo, the benchmark and tests.

Working-hours sessions of a fixed population of users per feature, lognormal durations,
denials when the feature is at capacity (most retried within minutes, some given up: true
denials), a few queue entries, TIMESTAMP lines every 6 hours and an lmgrd start line. Lines come
out in time order, one at a time, so a log of any size streams.
"""

from __future__ import annotations

import datetime
import heapq
import random
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class FeatureLoad:
    feature: str
    capacity: int
    sessions_per_day: float  # on a working day
    mean_hours: float = 2.0
    max_count: int = 1  # licenses per checkout: 1..max_count


def _clock(moment: datetime.datetime) -> str:
    return f"{moment.hour:2d}:{moment.minute:02d}:{moment.second:02d}"


def _date(moment: datetime.datetime) -> str:
    return f"{moment.month}/{moment.day}/{moment.year}"


class _Simulation:
    """Actions in time order (a heap); each turns into zero or more log lines."""

    def __init__(self, *, loads: list[FeatureLoad], daemon: str, rng: random.Random) -> None:
        self.heap: list[tuple[datetime.datetime, int, str, tuple]] = []
        self.sequence = 0
        self.daemon = daemon
        self.rng = rng
        self.out: dict[str, int] = {load.feature: 0 for load in loads}

    def push(self, moment: datetime.datetime, action: str, data: tuple) -> None:
        self.sequence += 1
        heapq.heappush(self.heap, (moment, self.sequence, action, data))

    def lines(self, end: datetime.datetime) -> Iterator[str]:
        while self.heap:
            moment, _seq, action, data = heapq.heappop(self.heap)
            if moment >= end:
                return
            line = getattr(self, f"_{action}")(moment, *data)
            if line:
                yield line

    def _timestamp(self, moment: datetime.datetime) -> str:
        return f"{_clock(moment)} ({self.daemon}) TIMESTAMP {_date(moment)}\n"

    def _line(
        self, moment: datetime.datetime, keyword: str, load: FeatureLoad, who: str, count: int, reason: bool = False
    ) -> str:
        suffix = f"  ({count} licenses)" if count > 1 else ""
        why = '  (Licensed number of users already reached. (-4,342:10054 ""))' if reason else ""
        return f'{_clock(moment)} ({self.daemon}) {keyword}: "{load.feature}" {who}{suffix}{why}\n'

    def _in(self, moment: datetime.datetime, load: FeatureLoad, who: str, count: int) -> str:
        self.out[load.feature] -= count
        return self._line(moment, "IN", load, who, count)

    def _attempt(self, moment: datetime.datetime, load: FeatureLoad, who: str, count: int, tries: int) -> str:
        rng = self.rng
        if self.out[load.feature] + count <= load.capacity:
            self.out[load.feature] += count
            seconds = max(60, int(rng.lognormvariate(0, 0.8) * load.mean_hours * 3600))
            self.push(moment + datetime.timedelta(seconds=seconds), "in", (load, who, count))
            return self._line(moment, "OUT", load, who, count)
        if rng.random() < 0.08:
            self.push(moment + datetime.timedelta(seconds=rng.randint(30, 900)), "dequeue", (load, who, count))
            return self._line(moment, "QUEUED", load, who, count, reason=True)
        if tries < 3 and rng.random() < 0.7:  # most retry within minutes; the others are true denials
            retry = moment + datetime.timedelta(seconds=rng.randint(60, 900))
            self.push(retry, "attempt", (load, who, count, tries + 1))
        return self._line(moment, "DENIED", load, who, count, reason=True)

    def _dequeue(self, moment: datetime.datetime, load: FeatureLoad, who: str, count: int) -> str:
        self.push(moment + datetime.timedelta(seconds=1), "attempt", (load, who, count, 3))
        return self._line(moment, "DEQUEUED", load, who, count)


def generate_log(
    *,
    start: datetime.date,
    days: int,
    loads: list[FeatureLoad],
    users: int = 30,
    host: str = "lic01",
    daemon: str = "ansyslmd",
    seed: int = 7,
) -> Iterator[str]:
    """Lines (with ``\\n``) of a debug log from ``start`` over ``days`` days."""
    rng = random.Random(seed)
    people = [f"user{i:03d}@ws-{i:03d}" for i in range(users)]
    simulation = _Simulation(loads=loads, daemon=daemon, rng=rng)
    first = datetime.datetime.combine(start, datetime.time(0, 0, 5))
    yield f"{_clock(first)} (lmgrd) -----------------------------------------------\n"
    yield (
        f"{_clock(first)} (lmgrd) FlexNet Licensing (v11.19.4.0 build 298654 x64_lsb) started on {host} "
        f"(linux) ({_date(first)})\n"
    )
    for day in range(days):
        midnight = datetime.datetime.combine(start + datetime.timedelta(days=day), datetime.time())
        for stamp in range(4):
            simulation.push(midnight + datetime.timedelta(hours=6 * stamp, seconds=30), "timestamp", ())
        weekend = midnight.weekday() >= 5
        for load in loads:
            for _ in range(max(0, int(rng.gauss(load.sessions_per_day * (0.15 if weekend else 1.0), 1.5)))):
                hour = min(23.9, max(0.0, rng.gauss(11.5, 3.0)))
                moment = midnight + datetime.timedelta(seconds=int(hour * 3600))
                simulation.push(moment, "attempt", (load, rng.choice(people), rng.randint(1, load.max_count), 0))
    yield from simulation.lines(datetime.datetime.combine(start + datetime.timedelta(days=days), datetime.time()))


EVENTS_PER_SESSION = 2.2  # OUT + IN, and a few denials / queue entries


def bench_loads(*, events: int, days: int, features: int = 50) -> list[FeatureLoad]:
    per_feature_day = events / EVENTS_PER_SESSION / days / features / (5 / 7 + 2 / 7 * 0.15)
    return [
        FeatureLoad(
            f"bench_feature_{i:02d}",
            capacity=max(2, int(per_feature_day * 0.35) + i % 5),
            sessions_per_day=per_feature_day * (0.5 + (i % 10) / 10),
            mean_hours=1.5 + (i % 4) * 0.5,
            max_count=1 + (i % 3),
        )
        for i in range(features)
    ]
