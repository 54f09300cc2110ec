"""The debug log and lmstat parsers against the shared samples (figures of an independent reading)."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from usage import parsers
from usage.parsers import (
    Event,
    Skipped,
    UnreadableLog,
    log_figures,
    open_blocks,
    open_lines,
    parse_lmstat,
    parse_log,
)

SAMPLES = Path(__file__).parent / "samples"
# ../shared beside the repository root, as tests/activations/test_licensefile.py finds it.
_SHARED_SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples" / "flexlm-logs"
LOGS = sorted(path.stem for path in SAMPLES.glob("*.log"))


def _sample_dirs() -> list[Path]:
    return [SAMPLES, *([_SHARED_SAMPLES] if _SHARED_SAMPLES.is_dir() else [])]


# Plain event lines are read by the compiled scanner (usage/_flexscan.c) where it is built, by
# the Python fast path where it is not; both must read every log as the careful path does.
SCANNERS = ["compiled", "python"]


@contextlib.contextmanager
def _scanner(name: str) -> Iterator[None]:
    built = parsers.SCANNER
    assert built is not None, "usage/_flexscan.c is not built: run `make install`"
    parsers.SCANNER = built if name == "compiled" else None
    try:
        yield
    finally:
        parsers.SCANNER = built


def test_the_compiled_scanner_is_built_and_used() -> None:
    assert parsers.SCANNER is not None, "usage/_flexscan.c is not built: run `make install`"
    assert parsers.SCANNER.__file__.endswith(".so")


@pytest.mark.parametrize("scanner", SCANNERS)
@pytest.mark.parametrize("folder", _sample_dirs(), ids=lambda p: p.parent.parent.name)
@pytest.mark.parametrize("name", LOGS)
def test_debug_log_figures_match_the_independent_reading(folder: Path, name: str, scanner: str) -> None:
    expected = json.loads((folder / f"{name}.expected.json").read_text())
    with (folder / f"{name}.log").open("rb") as stream, _scanner(scanner):
        assert log_figures(open_lines(stream)) == expected


@pytest.mark.parametrize("folder", _sample_dirs(), ids=lambda p: p.parent.parent.name)
def test_lmstat_snapshot_matches_the_independent_reading(folder: Path) -> None:
    expected = json.loads((folder / "lmstat_a.expected.json").read_text())
    assert parse_lmstat((folder / "lmstat_a.txt").read_bytes().splitlines(keepends=True)) == expected


@pytest.mark.skipif(not _SHARED_SAMPLES.is_dir(), reason="shared/ is not checked out beside the repo")
def test_vendored_samples_match_shared() -> None:
    shared = {p.name: p.read_bytes() for p in _SHARED_SAMPLES.iterdir() if p.is_file()}
    vendored = {p.name: p.read_bytes() for p in SAMPLES.iterdir() if p.is_file()}
    assert vendored == shared, "re-copy shared/samples/flexlm-logs into tests/usage/samples"


def test_gzip_and_plain_read_the_same() -> None:
    raw = (SAMPLES / "two_daemons_crlf_junk.log").read_bytes()
    plain = log_figures(open_lines(io.BytesIO(raw)))
    assert log_figures(open_lines(io.BytesIO(gzip.compress(raw)))) == plain
    assert log_figures(open_lines(io.BytesIO(raw.replace(b"\r\n", b"\n")))) == plain


def test_junk_lines_are_reported_with_line_number_and_reason() -> None:
    log = [
        '10:00:00 (ansyslmd) OUT: "ansys" early@ws-1\n',  # no date yet
        " 9:00:00 (lmgrd) FlexNet Licensing (v11) started on lic01 (linux) (11/2/2026)\n",
        "\x00\xff garbage\n",
        '25:61:00 (ansyslmd) OUT: "ansys" bob@ws-1\n',
        "10:00:00 (ansyslmd) TIMESTAMP 13/45/2026\n",
        '10:00:00 (ansyslmd) OUT: "ansys" bob@ws-1  (2 licenses)\n',
    ]
    items = list(parse_log(log))
    skipped = [(s.line, s.reason) for s in items if isinstance(s, Skipped)]
    assert [line for line, _ in skipped] == [1, 3, 4, 5]
    assert all(reason for _, reason in skipped)
    events = [e for e in items if isinstance(e, Event)]
    assert [(e.kind, e.line, e.count) for e in events] == [("restart", 2, 1), ("checkout", 6, 2)]


def test_clock_going_backwards_is_the_next_day() -> None:
    log = [
        "23:00:00 (ansyslmd) TIMESTAMP 12/31/2026\n",
        '23:30:00 (ansyslmd) OUT: "ansys" bob@ws-1\n',
        ' 0:30:00 (ansyslmd) IN: "ansys" bob@ws-1\n',
    ]
    events = [e for e in parse_log(log) if isinstance(e, Event)]
    assert [e.time.isoformat() for e in events] == ["2026-12-31T23:30:00", "2027-01-01T00:30:00"]
    figures = log_figures(log)["features"]["ansyslmd/ansys"]
    assert figures["license_hours"] == 1.0
    assert figures["daily_peak"] == {"2026-12-31": 1, "2027-01-01": 1}


@pytest.mark.parametrize("scanner", SCANNERS)
@given(data=st.binary(max_size=2000))
def test_any_bytes_parse_without_error(data: bytes, scanner: str) -> None:
    for payload in (data, gzip.compress(data)[: len(data) // 2 + 10]):
        try:
            with _scanner(scanner):
                log_figures(open_lines(io.BytesIO(payload)))
        except UnreadableLog:
            assert payload[:2] == b"\x1f\x8b"
    parse_lmstat(data.splitlines(keepends=True))


@given(st.lists(st.text(max_size=120), max_size=30))
def test_any_text_parses_without_error(lines: list[str]) -> None:
    log_figures(lines)
    parse_lmstat(lines)


@pytest.mark.parametrize("scanner", SCANNERS)
@given(cuts=st.lists(st.integers(min_value=1, max_value=400), min_size=1, max_size=40), gz=st.booleans())
def test_blocks_cut_anywhere_read_as_lines(cuts: list[int], gz: bool, scanner: str) -> None:
    raw = (SAMPLES / "single_daemon_restart.log").read_bytes()
    chunks, position = [], 0
    for cut in cuts * 200:
        if position >= len(raw):
            break
        chunks.append(raw[position : position + cut])
        position += cut
    chunks.append(raw[position:])
    expected = log_figures(raw.splitlines(keepends=True))
    stream = io.BytesIO(gzip.compress(raw) if gz else raw)
    with _scanner(scanner):
        assert log_figures(chunks) == expected
        assert log_figures(open_blocks(stream, size=cuts[0])) == expected


def _careful_reading(lines: list[bytes]) -> list:
    """Every line through the careful path alone: the reference the fast path must equal."""
    from usage.parsers import LogSummary, _Reader

    reader = _Reader(LogSummary())
    items = []
    for number, line in enumerate(lines, 1):
        item = reader.careful(number, line)
        if item is not None:
            items.append(item)
    return items


# Per field of an event line: a usual value first, then values one of the paths could read
# differently (control characters, Unicode spaces, counts in reasons, "started on", ...).
_FIELDS = {
    "clock": [b"10:00:00", b" 9:05:07", b"09:05:07", b"9:05:07", b"23:59:59", b"24:00:00", b" 0:00:01"],
    "daemon": [b"ansyslmd", b"lmgrd", b'a"b', b"d\x1f", b"d\xc2\xa0", b"x" * 64, b"x" * 65, b"(x)"],
    "keyword": [b"OUT", b"IN", b"DENIED", b"QUEUED", b"DEQUEUED", b"UNSUPPORTED", b"TIMESTAMP", b"out"],
    "feature": [b"ansys", b"a b", b"caf\xc3\xa9", b"\xff", b"", b"x" * 255, b"x" * 256, b'q"q'],
    "user": [b"bob", b"b ob", b"b@b", b"\xc3\xbc", b"u\x1c", b"", b"x" * 255, b"x" * 256],
    "host": [b"ws-1", b"w\x85", b"", b"h" * 255, b"h" * 256],
    "tail": [
        b"",
        b"  (2 licenses)",
        b"  (1 license)",
        b"  (0 licenses)",
        b"  (02 licenses)",
        b'  (Licensed number of users already reached. (-4,342:10054 ""))',
        b"  (2 licenses)  (reason (3 licenses))",
        b"  (reason (3 licenses))",
        b"  (server started on lic01 (linux) (1/2/2026))",
        b"  (started on lic01 (linux) (1/2/2026)",
        b"\r",
        b"   \t\r",
        b" " * 70,
        b"  (r\x00)",
        b"  (" + b"r" * 255 + b")",
        b"  (" + b"r" * 256 + b")",
        b"  (999999 licenses)",
        b"  (1000000 licenses)",
    ],
}


@st.composite
def _event_line(draw: st.DrawFn) -> bytes:
    odd = draw(st.sets(st.sampled_from(sorted(_FIELDS)), max_size=2))
    values = [draw(st.sampled_from(options)) if name in odd else options[0] for name, options in _FIELDS.items()]
    return b'%s (%s) %s: "%s" %s@%s%s' % tuple(values)


@pytest.mark.parametrize("scanner", SCANNERS)
@given(lines=st.lists(_event_line(), max_size=40), dated=st.booleans())
def test_the_fast_path_reads_every_line_as_the_careful_path_does(lines: list[bytes], dated: bool, scanner: str) -> None:
    lines = [b"10:00:00 (ansyslmd) TIMESTAMP 12/31/2026", *lines] if dated else lines
    with _scanner(scanner):
        assert list(parse_log([line + b"\n" for line in lines])) == _careful_reading(lines)


# Bytes that sit on the edges of the fast paths' grammar, for mutating plain lines.
_EDGES = [*b' ()"@:\t\r\x00\x7f\x80\xff0123456789slicenesartdo', *b"OUTINDENIEDQUEUED"]


@st.composite
def _mutated_line(draw: st.DrawFn) -> bytes:
    """A plain event line with a few bytes inserted, replaced or deleted anywhere."""
    line = bytearray(draw(st.sampled_from(_PLAIN_LINES)))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        at = draw(st.integers(min_value=0, max_value=len(line)))
        byte = draw(st.sampled_from(_EDGES))
        action = draw(st.sampled_from(["insert", "replace", "delete"]))
        if action == "insert" or at == len(line):
            line.insert(at, byte)
        elif action == "replace":
            line[at] = byte
        else:
            del line[at]
    return bytes(line)


_PLAIN_LINES = [
    b'10:00:00 (ansyslmd) OUT: "ansys" bob@ws-1',
    b' 9:05:07 (ansyslmd) IN: "a b" bob@ws-1  (2 licenses)',
    b'23:59:59 (ansyslmd) DENIED: "ansys" bob@ws-1  (Licensed number of users already reached. (-4,342:10054 ""))',
    b'00:00:01 (x) QUEUED: "f" u@h  (1 license)  (reason)  \r',
    b'12:00:00 (d) UNSUPPORTED: "f" u@h  (UNSUPPORTED (-5,1))\t',
]


@pytest.mark.parametrize("scanner", SCANNERS)
@given(lines=st.lists(_mutated_line(), min_size=1, max_size=30))
def test_mutated_lines_read_as_the_careful_path_reads_them(lines: list[bytes], scanner: str) -> None:
    lines = [b"10:00:00 (ansyslmd) TIMESTAMP 12/31/2026", *lines]
    with _scanner(scanner):
        assert list(parse_log([line + b"\n" for line in lines])) == _careful_reading(lines)
