"""The rollup replay's state survives a checkpoint: stopping anywhere, storing the state and
going on from it gives the rows of one uninterrupted replay (no database)."""

from __future__ import annotations

import datetime
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from usage.generate import FeatureLoad, generate_log
from usage.parsers import Event, parse_log
from usage.rollups import RollupBuilder, rollups

SAMPLES = Path(__file__).parent / "samples"


def _events(name: str) -> list[Event]:
    if name == "generated":
        loads = [
            FeatureLoad("ansys", capacity=2, sessions_per_day=9, mean_hours=5),
            FeatureLoad("cfd", capacity=1, sessions_per_day=6, mean_hours=12, max_count=1),
        ]
        lines = generate_log(start=datetime.date(2026, 3, 2), days=4, loads=loads, users=4, seed=5)
    else:
        lines = (SAMPLES / f"{name}.log").read_bytes().splitlines(keepends=True)
    return [item for item in parse_log(lines) if isinstance(item, Event)]


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(["single_daemon_restart", "two_daemons_crlf_junk", "generated"]),
    data=st.data(),
)
def test_going_on_from_a_stored_state_gives_the_same_rows(name: str, data: st.DataObject) -> None:
    events = _events(name)
    cuts = sorted(data.draw(st.sets(st.integers(0, len(events)), min_size=1, max_size=4)))
    builder = RollupBuilder()
    hours: dict = {}
    persons: dict = {}
    position = 0
    for cut in cuts:
        for event in events[position:cut]:
            builder.feed(event)
        position = cut
        flushed_hours, flushed_persons = builder.flush()
        hours.update(flushed_hours)
        persons.update(flushed_persons)
        builder = RollupBuilder.from_state(builder.state())
    for event in events[position:]:
        builder.feed(event)
    final_hours, final_persons = builder.flush(final=True)
    hours.update(final_hours)
    persons.update(final_persons)
    assert (hours, persons) == rollups(iter(events))
