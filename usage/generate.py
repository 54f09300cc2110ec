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


def generate_log(
    *, start: datetime.date, days: int, loads: list[FeatureLoad], users: int = 30, host: str = "lic01",
    daemon: str = "ansyslmd", seed: int = 7,
) -> Iterator[str]:
    """Lines (with ``\\n``) of a debug log from ``start`` over ``days`` days."""
    rng = random.Random(seed)
    people = [(f"user{i:03d}", f"ws-{i:03d}") for i in range(users)]
    heap: list[tuple[datetime.datetime, int, str, tuple]] = []
    sequence = 0

    def push(moment: datetime.datetime, action: str, data: tuple) -> None:
        nonlocal sequence
        sequence += 1
        heapq.heappush(heap, (moment, sequence, action, data))

    first = datetime.datetime.combine(start, datetime.time(0, 0, 5))
    yield f"{_clock(first)} (lmgrd) -----------------------------------------------\n"
    yield (f"{_clock(first)} (lmgrd) FlexNet Licensing (v11.19.4.0 build 298654 x64_lsb) started on {host} "
           f"(linux) ({_date(first)})\n")
    end = datetime.datetime.combine(start + datetime.timedelta(days=days), datetime.time())
    for day in range(days):
        midnight = datetime.datetime.combine(start + datetime.timedelta(days=day), datetime.time())
        for stamp in range(4):
            push(midnight + datetime.timedelta(hours=6 * stamp, seconds=30), "timestamp", ())
        weekend = midnight.weekday() >= 5
        for load in loads:
            count = int(rng.gauss(load.sessions_per_day * (0.15 if weekend else 1.0), 1.5))
            for _ in range(max(0, count)):
                hour = min(23.9, max(0.0, rng.gauss(11.5, 3.0)))
                moment = midnight + datetime.timedelta(seconds=int(hour * 3600))
                user, workstation = rng.choice(people)
                push(moment, "attempt", (load, user, workstation, rng.randint(1, load.max_count), 0))
    out: dict[str, int] = {load.feature: 0 for load in loads}
    while heap:
        moment, _seq, action, data = heapq.heappop(heap)
        if moment >= end:
            break
        clock = _clock(moment)
        if action == "timestamp":
            yield f"{clock} ({daemon}) TIMESTAMP {_date(moment)}\n"
        elif action == "in":
            load, user, workstation, count = data
            out[load.feature] -= count
            suffix = f"  ({count} licenses)" if count > 1 else ""
            yield f"{clock} ({daemon}) IN: \"{load.feature}\" {user}@{workstation}{suffix}\n"
        elif action == "attempt":
            load, user, workstation, count, tries = data
            suffix = f"  ({count} licenses)" if count > 1 else ""
            if out[load.feature] + count <= load.capacity:
                out[load.feature] += count
                yield f"{clock} ({daemon}) OUT: \"{load.feature}\" {user}@{workstation}{suffix}\n"
                seconds = max(60, int(rng.lognormvariate(0, 0.8) * load.mean_hours * 3600))
                push(moment + datetime.timedelta(seconds=seconds), "in", (load, user, workstation, count))
            elif rng.random() < 0.08:
                yield (f"{clock} ({daemon}) QUEUED: \"{load.feature}\" {user}@{workstation}{suffix}  "
                       "(Licensed number of users already reached. (-4,342:10054 \"\"))\n")
                push(moment + datetime.timedelta(seconds=rng.randint(30, 900)), "dequeue",
                     (load, user, workstation, count))
            else:
                yield (f"{clock} ({daemon}) DENIED: \"{load.feature}\" {user}@{workstation}{suffix}  "
                       "(Licensed number of users already reached. (-4,342:10054 \"\"))\n")
                if tries < 3 and rng.random() < 0.7:
                    push(moment + datetime.timedelta(seconds=rng.randint(60, 900)), "attempt",
                         (load, user, workstation, count, tries + 1))
        elif action == "dequeue":
            load, user, workstation, count = data
            suffix = f"  ({count} licenses)" if count > 1 else ""
            yield f"{clock} ({daemon}) DEQUEUED: \"{load.feature}\" {user}@{workstation}{suffix}\n"
            push(moment + datetime.timedelta(seconds=1), "attempt", (load, user, workstation, count, 3))


EVENTS_PER_SESSION = 2.2  # OUT + IN, and a few denials / queue entries


def bench_loads(*, events: int, days: int, features: int = 50) -> list[FeatureLoad]:
    per_feature_day = events / EVENTS_PER_SESSION / days / features / (5 / 7 + 2 / 7 * 0.15)
    return [
        FeatureLoad(f"bench_feature_{i:02d}", capacity=max(2, int(per_feature_day * 0.35) + i % 5),
                    sessions_per_day=per_feature_day * (0.5 + (i % 10) / 10), mean_hours=1.5 + (i % 4) * 0.5,
                    max_count=1 + (i % 3))
        for i in range(features)
    ]
