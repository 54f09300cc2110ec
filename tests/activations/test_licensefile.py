"""License file parsing, rendering, signing and verification (pure Python, no Django)."""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import re
import stat
import threading
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from activations import licensefile
from activations.licensefile import (
    Attribute,
    IncrementSpec,
    LicenseDocument,
    LicenseParseError,
    ParsedLicense,
    ServerSpec,
    license_diff,
    license_parse,
    license_render,
    license_verify,
    private_key_load_or_create,
    public_key_from_pem,
    public_key_pem,
    signed_message,
)

# ----------------------------------------------------------------------------- samples

_SHARED_SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples" / "licenses"
_VENDORED_SAMPLES = Path(__file__).resolve().parent / "license_samples"


def _sample_files() -> dict[str, Path]:
    """Sample files by name: the vendored copy, overridden by shared/ where it exists."""
    files: dict[str, Path] = {}
    for directory in (_VENDORED_SAMPLES, _SHARED_SAMPLES):
        if directory.is_dir():
            files.update({path.name: path for path in directory.iterdir() if path.is_file()})
    return files


_SAMPLES = _sample_files()
_GOOD_SAMPLES = sorted(name[: -len(".lic")] for name in _SAMPLES if f"{name[:-4]}.expected.json" in _SAMPLES)
_BAD_SAMPLES = sorted(name[: -len(".lic")] for name in _SAMPLES if f"{name[:-4]}.expected-error.txt" in _SAMPLES)


def _read_sample(name: str) -> str:
    # Bytes, not read_text(): universal newlines would hide the CRLF sample's line endings.
    return _SAMPLES[name].read_bytes().decode("utf-8")


def _attribute_json(attribute: Attribute) -> dict[str, Any]:
    if attribute.has_value:
        return {"name": attribute.name, "value": attribute.value, "has_value": True}
    return {"name": attribute.name, "has_value": False}


def _as_json(parsed: ParsedLicense) -> dict[str, Any]:
    """`parsed` in the shape of the samples' *.expected.json."""
    vendors = []
    for vendor in parsed.vendors:
        entry: dict[str, Any] = {"line": vendor.line, "name": vendor.name}
        if vendor.attributes:
            entry["attributes"] = [_attribute_json(attribute) for attribute in vendor.attributes]
        vendors.append(entry)
    return {
        "servers": [
            {"line": server.line, "host": server.host, "host_id": server.host_id, "port": server.port}
            for server in parsed.servers
        ],
        "vendors": vendors,
        "features": [
            {
                "line": feature.line,
                "kind": feature.kind,
                "name": feature.name,
                "vendor": feature.vendor,
                "version": feature.version,
                "expiration": feature.expiration,
                "licenses": feature.count,
                "uncounted": feature.uncounted,
                "attributes": [_attribute_json(attribute) for attribute in feature.attributes],
            }
            for feature in parsed.features
        ],
        "use_server": parsed.use_server,
    }


def _fold_signatures(document: dict[str, Any]) -> dict[str, Any]:
    """Fold white space in SIGN/SIGN2 values, which the samples' README allows."""
    for feature in document["features"]:
        for attribute in feature["attributes"]:
            if attribute["name"] in ("SIGN", "SIGN2"):
                attribute["value"] = " ".join(attribute["value"].split())
    return document


def test_samples_are_present() -> None:
    assert len(_GOOD_SAMPLES) >= 6
    assert len(_BAD_SAMPLES) >= 4


@pytest.mark.skipif(not _SHARED_SAMPLES.is_dir(), reason="shared/ is not checked out beside the repo")
def test_vendored_samples_match_shared() -> None:
    shared = {path.name: path.read_bytes() for path in _SHARED_SAMPLES.iterdir() if path.is_file()}
    vendored = {path.name: path.read_bytes() for path in _VENDORED_SAMPLES.iterdir() if path.is_file()}
    assert vendored == shared, "re-copy shared/samples/licenses into tests/activations/license_samples"


@pytest.mark.parametrize("name", _GOOD_SAMPLES)
def test_sample_parses_as_expected(name: str) -> None:
    expected = json.loads(_read_sample(f"{name}.expected.json"))
    parsed = license_parse(_read_sample(f"{name}.lic"))
    assert _fold_signatures(_as_json(parsed)) == _fold_signatures(expected)


@pytest.mark.parametrize("name", _BAD_SAMPLES)
def test_broken_sample_is_refused_naming_its_line(name: str) -> None:
    expected = _read_sample(f"{name}.expected-error.txt").strip()
    with pytest.raises(LicenseParseError) as excinfo:
        license_parse(_read_sample(f"{name}.lic"))
    assert expected in str(excinfo.value)
    expected_line = re.match(r"line (\d+):", expected)
    assert expected_line is not None
    assert excinfo.value.line == int(expected_line.group(1))


def test_continuation_inside_quotes_keeps_the_next_lines_indentation() -> None:
    parsed = license_parse('SERVER h 001122AABBCC 1055\nINCREMENT f v 1.0 permanent 1 NOTICE="a \\\n\tb"\n')
    assert parsed.features[0].attributes == (Attribute("NOTICE", "a  \tb"),)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("SERVER h 001122AABBCC\n", "line 1: a SERVER line needs"),
        ("SERVER h 001122AABBCC 0\n", "line 1: invalid SERVER port"),
        ("SERVER h 001122AABBCC 1055 EXTRA\n", 'line 1: unexpected "EXTRA"'),
        ("SERVER h ANY 1055\n", "line 1: invalid SERVER host ID"),
        ("SERVER h!x 001122AABBCC 1055\n", "line 1: invalid SERVER host name"),
        ("SERVER a 001122AABBCC 1\nSERVER b 001122AABBCD 1\n", "line 2: two SERVER lines"),
        ("SERVER a 001122AABBCC 1\n" * 4, "line 4: more than three SERVER lines"),
        ("\nVENDOR ansyslmd PORT=99999\n", "line 2: invalid VENDOR port"),
        ("VENDOR ansyslmd /usr/bin/ansyslmd\n", "line 1: invalid keyword"),
        ("DAEMON ansyslmd\n", 'line 1: unsupported line type "DAEMON"'),
        ("USE_SERVER now\n", "line 1: USE_SERVER takes no arguments"),
        ("SERVER h 001122AABBCC 1055 \\\n", "line 1: line continues past the end of the file"),
        ("SERVER h 001122AABBCC 1055\nINCREMENT f v 1.0 permanent 0\n", "line 2: invalid license count 0"),
        ("INCREMENT f v 1.0 permanent uncounted\n", "line 1: an uncounted line must be node-locked"),
        ("INCREMENT f v 1.0 permanent 5 HOSTID=001122AABBCC\n", "line 1: a counted line needs a SERVER"),
        ("INCREMENT f v 1.0 permanent uncounted HOSTID=ANY\n", "line 1: invalid HOSTID"),
        ("SERVER h 001122AABBCC 1055\nINCREMENT f v 1.0 permanent\n", "line 2: the INCREMENT line needs"),
        ("SERVER h 001122AABBCC 1055\nFEATURE f-g v 1.0 permanent 1\n", "line 2: invalid feature name"),
        ("SERVER h 001122AABBCC 1055\nINCREMENT f v 1.0.1 permanent 1\n", "line 2: invalid version"),
        ("SERVER h 001122AABBCC 1055\nINCREMENT f v 1 0-jan-2027 1\n", "line 2: invalid date"),
        ("SERVER h 001122AABBCC 1055\nINCREMENT f v 1 permanent 1 START=2026-01-01\n", "line 2: invalid date"),
        ("SERVER h 001122AABBCC 1055\nINCREMENT f v 1 permanent 1 BORROW=0\n", "line 2: invalid BORROW"),
        ("SERVER h 001122AABBCC 1055\nINCREMENT f v 1 permanent 1 A=1 A=2\n", "line 2: duplicate keyword A"),
        ("SERVER h 001122AABBCC 1055\nINCREMENT f v 1 permanent 1 A=\n", "line 2: missing value for A"),
        ('SERVER h 001122AABBCC 1055\nINCREMENT f v 1 permanent 1 A="x\n', "line 2: unterminated quote"),
        ('SERVER h 001122AABBCC 1055\nINCREMENT f v 1 permanent 1 A=b"c"\n', "line 2: unexpected quote"),
        ("SERVER h 001122AABBCC 1055\r\rVENDOR v\n", "line 1: invalid character U+000D"),
        ("SERVER h 001122AABBCC 1055\nINCREMENT f v 1 permanent 1 A=\x00\n", "line 2: invalid character U+0000"),
    ],
)
def test_invalid_lines_are_refused(text: str, message: str) -> None:
    with pytest.raises(LicenseParseError) as excinfo:
        license_parse(text)
    assert str(excinfo.value).startswith(message)


def test_empty_file_parses_to_nothing() -> None:
    assert license_parse("") == ParsedLicense((), (), (), use_server=False)


def test_parse_error_survives_pickling() -> None:
    import pickle

    error = pickle.loads(pickle.dumps(LicenseParseError(3, "invalid date")))
    assert (error.line, error.reason, str(error)) == (3, "invalid date", "line 3: invalid date")


_FRAGMENTS = [
    "SERVER", "VENDOR", "USE_SERVER", "INCREMENT", "FEATURE", "ansyslmd", "ansys", "f",
    "001122AABBCC", "0A1B2C3D", "FLEXID=9-6b3366b2", "1055", "99999", "2027.1231", "1.",
    "31-dec-2027", "31-feb-2026", "permanent", "5", "0", "uncounted", "HOSTID=", "SIGN=",
    "BORROW", "BORROW=", "START=", "asset_info=", "=", '"', " ", "\t", "\\", " \\\n\t",
    "\n", "\r\n", "\r", "#", "\x00", "\u0661", "\ufeff", "\u2028",
]  # fmt: skip


@settings(max_examples=300)
@given(text=st.one_of(st.text(), st.lists(st.sampled_from(_FRAGMENTS), max_size=40).map("".join)))
def test_parse_and_verify_never_raise_anything_else(text: str) -> None:
    with contextlib.suppress(LicenseParseError):
        license_parse(text)
    result = license_verify(text, public_key=_KEY.public_key())
    assert result.valid is False


# ----------------------------------------------------------------------------- rendering

# A fixed key so that the golden file below pins the signed-message format: if this test
# fails, every license file already issued would stop verifying.
_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))

_SERVER = ServerSpec("lic01", "001122AABBCC", 1055)
_TRIAD = (
    ServerSpec("lic-red1", "00E04C681A01", 1055),
    ServerSpec("lic-red2", "FLEXID=10-6B3366B2", 27000),
    ServerSpec("lic-red3", "0A1B2C3D", 1055),
)


def _increment(feature: str = "ansys", **changes: Any) -> IncrementSpec:
    values: dict[str, Any] = {
        "feature": feature,
        "version": "2027.1231",
        "expiration": datetime.date(2027, 12, 31),
        "count": 5,
        "vendor_string": "customer:01001234",
        "issued": datetime.date(2026, 11, 28),
        "start": datetime.date(2026, 1, 1),
        "borrow_hours": 720,
        "comment": f"{feature}: 5 task(s)",
    }
    values.update(changes)
    return IncrementSpec(**values)


_IDENTITY = licensefile.FileIdentity(customer="1001234", server=17, version=3)


def _document(
    *increments: IncrementSpec,
    servers: tuple[ServerSpec, ...] = (_SERVER,),
    vendor_port: int | None = None,
    identity: licensefile.FileIdentity | None = _IDENTITY,
) -> LicenseDocument:
    return LicenseDocument(
        header="License file for customer 1001234 (Demo Muhendislik A.S.), server lic01, version 3",
        servers=servers,
        vendor="ansyslmd",
        vendor_port=vendor_port,
        increments=increments or (_increment(),),
        identity=identity,
    )


_THREE_LINES = _document(
    _increment("ansys"),
    _increment("anshpc_pack", expiration=None, count=2, borrow_hours=None),
    _increment("acfdsol3", version="2027.0630", expiration=datetime.date(2027, 6, 30), count=10),
    vendor_port=1056,
)


def _assert_round_trip(document: LicenseDocument, parsed: ParsedLicense) -> None:
    assert [(s.host, s.host_id, s.port) for s in parsed.servers] == [
        (s.host, s.host_id, s.port) for s in document.servers
    ]
    port = () if document.vendor_port is None else (Attribute("PORT", str(document.vendor_port)),)
    assert [(v.name, v.attributes) for v in parsed.vendors] == [(document.vendor, port)]
    assert parsed.use_server
    assert len(parsed.features) == len(document.increments)
    total = len(document.increments)
    for position, (feature, increment) in enumerate(zip(parsed.features, document.increments, strict=True), 1):
        assert (
            feature.kind,
            feature.name,
            feature.vendor,
            feature.version,
            feature.expiration_date,
            feature.count,
        ) == (
            "INCREMENT",
            increment.feature,
            document.vendor,
            increment.version,
            increment.expiration,
            increment.count,
        )
        serial = None if document.identity is None else document.identity.serial(position, total)
        assert feature.attributes[:-1] == increment.attributes(serial)
        signature = feature.attributes[-1]
        assert signature.name == "SIGN"
        assert signature.value is not None
        assert re.fullmatch(r"[0-9A-F]{4}( [0-9A-F]{4}){31}", signature.value)


# A file issued before SUPERSEDE was added (and with its comment not yet ASCII): it must
# still verify, whatever the renderer writes today.
_ISSUED_BEFORE_SUPERSEDE = (
    "# License file for customer 1001234 (Demo Mühendislik A.Ş.), server lic01, version 3\n"
    "SERVER lic01 001122AABBCC 1055\n"
    "VENDOR ansyslmd\n"
    "USE_SERVER\n"
    "# Mechanical Enterprise: 5 of 10 task(s), lease\n"
    "INCREMENT ansys ansyslmd 2027.1231 31-dec-2027 5 VENDOR_STRING=customer:01001234 \\\n"
    "\tISSUER=PORTAL ISSUED=28-nov-2026 START=01-jan-2026 BORROW=720 SN=1001234-S17-V3-L1-N2 \\\n"
    '\tSIGN="AB8A 5AE3 4280 C8D7 CB92 BF74 D5C7 5905 AE32 16B8 258B 8AF3 B922 5FCB 5D36 57DD '
    '2102 3DAA 2F7F E92F FA41 5C96 D44C DEC0 96B0 5FAC 2B70 F34D 76E2 1BC1 6055 AA09"\n'
    "#\n"
    "INCREMENT dsdxm ansyslmd 2027.1231 permanent 1 VENDOR_STRING=customer:01001234 \\\n"
    "\tISSUER=PORTAL ISSUED=28-nov-2026 START=01-jan-2026 SN=1001234-S17-V3-L2-N2 \\\n"
    '\tSIGN="B1DD A6F0 EA97 E557 7F50 A2CA 2351 7D0C E9DE E737 DC9E EC06 A981 93DB 5486 5C9A '
    'F82A 3710 4ED9 DEB8 6388 A91E A2FF 7F69 C441 D2E1 E33F 4687 7BF0 9677 D31C 7004"\n'
)


def test_render_golden_file() -> None:
    document = _document(
        _increment("ansys", comment="Mechanical Enterprise: 5 of 10 task(s), lease"),
        _increment("dsdxm", expiration=None, count=1, borrow_hours=None, comment=""),
    )
    assert license_render(document, private_key=_KEY) == (
        "# License file for customer 1001234 (Demo Muhendislik A.S.), server lic01, version 3\n"
        "SERVER lic01 001122AABBCC 1055\n"
        "VENDOR ansyslmd\n"
        "USE_SERVER\n"
        "# Mechanical Enterprise: 5 of 10 task(s), lease\n"
        "INCREMENT ansys ansyslmd 2027.1231 31-dec-2027 5 VENDOR_STRING=customer:01001234 \\\n"
        "\tSUPERSEDE ISSUER=PORTAL ISSUED=28-nov-2026 START=01-jan-2026 BORROW=720 SN=1001234-S17-V3-L1-N2 \\\n"
        '\tSIGN="4764 8375 5F21 78F0 A47C BE57 4105 EC82 0AD4 CC7F D738 62BF DB14 1F0C B351 BB22 529E B59D '
        '3092 23B9 2325 CB42 9E9A 2AA8 5ADD 695D 4C0E 6FF9 BCF6 018D DE61 7F01"\n'
        "#\n"
        "INCREMENT dsdxm ansyslmd 2027.1231 permanent 1 VENDOR_STRING=customer:01001234 \\\n"
        "\tSUPERSEDE ISSUER=PORTAL ISSUED=28-nov-2026 START=01-jan-2026 SN=1001234-S17-V3-L2-N2 \\\n"
        '\tSIGN="5891 A39C FEB6 D9B0 B153 C109 6BB9 8D3B 3003 E3C7 C714 1D7E AAA0 643E 62D5 24A6 4688 699A '
        'B88B A1B5 0EDF 703C 677E EFE8 3A46 EB19 FF21 F096 5444 E2BE 6907 BE0C"\n'
    )


def test_files_issued_before_supersede_still_verify() -> None:
    assert "SUPERSEDE" not in _ISSUED_BEFORE_SUPERSEDE
    assert license_verify(_ISSUED_BEFORE_SUPERSEDE, public_key=_KEY.public_key()).valid


def test_comments_are_ascii() -> None:
    assert licensefile.ascii_text("Demo Mühendislik A.Ş. · Işık İnşaat ÇĞÖÜ") == (
        "Demo Muhendislik A.S. ? Isik Insaat CGOU"
    )
    with pytest.raises(ValueError, match="ASCII"):
        _increment(comment="Mühendislik")


@pytest.mark.parametrize(
    "document",
    [
        _document(),
        _THREE_LINES,
        _document(_increment(), servers=_TRIAD),
        _document(
            _increment(expiration=None, borrow_hours=None), servers=(ServerSpec("dongle", "FLEXID=9-1A2B3C4D", 27000),)
        ),
        _document(_increment(), servers=(ServerSpec("winhost", "0A1B2C3D", 1055),), vendor_port=65535),
    ],
    ids=["single", "three-lines-vendor-port", "triad", "flexid-permanent", "disk-serial"],
)
def test_render_parse_verify_round_trip(document: LicenseDocument) -> None:
    text = license_render(document, private_key=_KEY)
    assert text.endswith("\n")
    assert "\r" not in text
    _assert_round_trip(document, license_parse(text))
    assert license_verify(text, public_key=_KEY.public_key()) == licensefile.VerifyResult(True, ())


def test_render_200_lines() -> None:
    document = _document(*(_increment(f"feature_{index}", count=index + 1) for index in range(200)))
    text = license_render(document, private_key=_KEY)
    assert len(license_parse(text).features) == 200
    assert license_verify(text, public_key=_KEY.public_key()).valid


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: _increment(vendor_string="customer 1"), "VENDOR_STRING"),
        (lambda: _increment(vendor_string='customer"1'), "VENDOR_STRING"),
        (lambda: _increment(vendor_string="customer\\"), "VENDOR_STRING"),
        (lambda: _increment(vendor_string=""), "VENDOR_STRING"),
        (lambda: _increment(vendor_string="kundenÜ"), "VENDOR_STRING"),
        (lambda: _increment("a" * 31), "feature name"),
        (lambda: _increment("mech-2"), "feature name"),
        (lambda: _increment(version="2027.12.31"), "version"),
        (lambda: _increment(count=0), "license count"),
        (lambda: _increment(count=True), "license count"),
        (lambda: _increment(count=10**9), "license count"),
        (lambda: _increment(borrow_hours=0), "BORROW"),
        (lambda: _increment(comment="two\nlines"), "comment"),
        (lambda: _increment(comment="ends in \\"), "backslash"),
        (lambda: ServerSpec("lic 01", "001122AABBCC", 1055), "host name"),
        (lambda: ServerSpec("lic01", "001122aabbcc", 1055), "canonical"),
        (lambda: ServerSpec("lic01", "00:11:22:AA:BB:CC", 1055), "Ethernet address|host ID"),
        (lambda: ServerSpec("lic01", "001122AABBCC", 70000), "port"),
        (lambda: _document(servers=(_SERVER, _SERVER)), "one server or three"),
        (lambda: _document(vendor_port=0), "vendor port"),
        (lambda: LicenseDocument("h", (_SERVER,), "ansys-lmd", None, ()), "vendor daemon name"),
        (lambda: LicenseDocument("h\r\nSERVER x", (_SERVER,), "ansyslmd", None, ()), "header"),
    ],
)
def test_unrenderable_values_are_refused(build: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


# Round trips over generated increments. Dates from year 1000 on: the file format has
# four-digit years.
_DATES = st.dates(min_value=datetime.date(1000, 1, 1))
_INCREMENTS = st.builds(
    IncrementSpec,
    feature=st.from_regex(r"[A-Za-z0-9_]{1,30}", fullmatch=True),
    version=st.from_regex(r"[0-9]{1,8}(\.[0-9]{1,8})?", fullmatch=True),
    expiration=st.none() | _DATES,
    count=st.integers(1, 999_999_999),
    vendor_string=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters='"\\'), min_size=1),
    issued=_DATES,
    start=_DATES,
    borrow_hours=st.none() | st.integers(1, 999_999_999),
    # Comments are ASCII (license servers read files in the system's code page).
    comment=st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E)).filter(lambda text: not text.endswith("\\")),
)


@given(
    increments=st.lists(_INCREMENTS, min_size=1, max_size=4),
    triad=st.booleans(),
    vendor_port=st.none() | st.integers(1, 65535),
)
def test_generated_documents_round_trip(increments: list[IncrementSpec], triad: bool, vendor_port: int | None) -> None:
    document = _document(*increments, servers=_TRIAD if triad else (_SERVER,), vendor_port=vendor_port)
    text = license_render(document, private_key=_KEY)
    _assert_round_trip(document, license_parse(text))
    assert license_verify(text, public_key=_KEY.public_key()).valid


# ----------------------------------------------------------------------------- verifying

_RENDERED = license_render(_THREE_LINES, private_key=_KEY)
# INCREMENT lines start on lines 6, 10 and 14 (header, SERVER, VENDOR, USE_SERVER, then
# a comment and three physical lines per increment).
_FEATURE_LINES = [feature.line for feature in license_parse(_RENDERED).features]


def _edit_line(text: str, number: int, old: str, new: str) -> str:
    lines = text.split("\n")
    assert old in lines[number - 1], (old, lines[number - 1])
    lines[number - 1] = lines[number - 1].replace(old, new, 1)
    return "\n".join(lines)


def _failing_lines(text: str) -> list[int]:
    result = license_verify(text, public_key=_KEY.public_key())
    assert result.valid == (not result.failures)
    return [failure.line for failure in result.failures]


def test_feature_lines() -> None:
    assert _FEATURE_LINES == [6, 10, 14]
    assert _failing_lines(_RENDERED) == []


@pytest.mark.parametrize(
    ("line", "old", "new"),
    [
        (10, " 2 VENDOR_STRING", " 3 VENDOR_STRING"),  # count
        (6, "31-dec-2027", "31-dec-2028"),  # expiration
        (10, "permanent", "31-dec-2099"),  # expiration
        (14, "acfdsol3", "acfdsol4"),  # feature
        (14, "2027.0630", "2027.0631"),  # version
        (6, "customer:01001234", "customer:01001235"),  # VENDOR_STRING
        (7, "ISSUED=28-nov-2026", "ISSUED=29-nov-2026"),
        (7, "START=01-jan-2026", "START=01-jan-2025"),
        (7, "BORROW=720", "BORROW=7200"),
        (7, "BORROW=720 ", ""),  # an attribute removed
        (11, "ISSUER=PORTAL", "ISSUER=PORTAL SUPERSEDE"),  # an upper-case keyword added
        (11, "ISSUER=PORTAL", "ISSUER=PORTAL Hostid=001122AABBCD"),  # a mixed-case keyword added
        (6, "INCREMENT", "FEATURE"),
    ],
)
def test_tampering_with_a_line_breaks_that_line(line: int, old: str, new: str) -> None:
    feature_line = max(number for number in _FEATURE_LINES if number <= line)
    assert _failing_lines(_edit_line(_RENDERED, line, old, new)) == [feature_line]


def test_changing_a_server_host_id_breaks_every_line() -> None:
    tampered = _edit_line(_RENDERED, 2, "001122AABBCC", "001122AABBCD")
    assert _failing_lines(tampered) == _FEATURE_LINES


def test_changing_a_triad_host_id_breaks_every_line() -> None:
    text = license_render(_document(_increment(), servers=_TRIAD), private_key=_KEY)
    assert _failing_lines(text) == []
    assert _failing_lines(_edit_line(text, 4, "0A1B2C3D", "0A1B2C3E")) == [8]
    assert _failing_lines(_edit_line(text, 3, "FLEXID=10-", "FLEXID=9-")) == [8]


def test_reordering_servers_breaks_every_line() -> None:
    text = license_render(_document(_increment(), servers=_TRIAD), private_key=_KEY)
    lines = text.split("\n")
    lines[1], lines[2] = lines[2], lines[1]
    assert _failing_lines("\n".join(lines)) == [8]


@pytest.mark.parametrize(
    "edit",
    [
        lambda text: _edit_line(text, 2, "SERVER lic01", "SERVER lic01-renamed.example.com"),
        lambda text: _edit_line(text, 2, "1055", "27000"),
        lambda text: _edit_line(text, 3, "PORT=1056", "PORT=2000"),
        lambda text: _edit_line(text, 3, " PORT=1056", ""),
        lambda text: _edit_line(text, 3, "ansyslmd", "ansyslmd OPTIONS=/opt/ansys/ansyslmd.opt"),
        lambda text: _edit_line(text, 5, "ansys: 5 task(s)", "edited by the administrator"),
        lambda text: text.replace("# License file", "# Moved to a new host\n# License file"),
        lambda text: text.replace(" \\\n\t", " "),  # continuation lines joined
        lambda text: text.replace(" \\\n\t", "  \\\n    "),  # continuation re-indented
        lambda text: text.replace("\n", "\r\n"),
        lambda text: text.replace("\n#", "\n\n#").replace("\nINCREMENT", "\n\nINCREMENT"),
        lambda text: _edit_line(text, 7, "BORROW=720", 'BORROW="720" asset_info="rack 4"'),
        lambda text: _edit_line(text, 2, "001122AABBCC", "001122aabbcc"),  # same host ID
        lambda text: _edit_line(text, 6, "31-dec-2027", "31-DEC-2027"),  # same date
        lambda text: _edit_line(text, 6, "31-dec-2027 5", "31-dec-2027 05"),  # same count
    ],
)
def test_administrator_edits_keep_the_file_valid(edit: Any) -> None:
    edited = edit(_RENDERED)
    assert edited != _RENDERED
    assert _failing_lines(edited) == []


def test_file_signed_with_another_key_is_invalid() -> None:
    other = license_render(_THREE_LINES, private_key=Ed25519PrivateKey.generate())
    result = license_verify(other, public_key=_KEY.public_key())
    assert not result.valid
    assert [(f.line, f.reason) for f in result.failures] == [
        (line, "signature does not match") for line in _FEATURE_LINES
    ]


def test_missing_and_malformed_signatures() -> None:
    text = _RENDERED.replace('\tSIGN="', '\tSIGN2="', 1)
    text = _edit_line(text, 16, 'SIGN="', 'SIGN="00')
    result = license_verify(text, public_key=_KEY.public_key())
    assert [(f.line, f.reason) for f in result.failures] == [
        (6, "no SIGN= signature"),
        (14, "malformed SIGN= signature (expected 64 bytes in hex)"),
    ]


def test_samples_do_not_verify() -> None:
    result = license_verify(_read_sample("triad_redundant.lic"), public_key=_KEY.public_key())
    assert [f.reason for f in result.failures] == ["malformed SIGN= signature (expected 64 bytes in hex)"] * 2


def test_unparseable_file_is_invalid_with_the_parse_error() -> None:
    result = license_verify(_read_sample("bad_date.lic"), public_key=_KEY.public_key())
    assert result == licensefile.VerifyResult(False, (licensefile.LineFailure(3, 'invalid date "31-feb-2026"'),))


def test_file_without_feature_lines_is_invalid() -> None:
    result = license_verify("SERVER h 001122AABBCC 1055\nVENDOR ansyslmd\n", public_key=_KEY.public_key())
    assert result == licensefile.VerifyResult(False, (licensefile.LineFailure(0, "no signed lines"),))


def test_verify_result_invariant() -> None:
    with pytest.raises(ValueError, match="valid exactly when"):
        licensefile.VerifyResult(True, (licensefile.LineFailure(1, "x"),))


def test_signed_message_format() -> None:
    fields = [
        "flexnet-portal license line v1", "FEATURE", "ansys", "ansyslmd", "2027.1231",
        "2027-12-31", "uncounted", "2", "HOSTID=0A1B2C3D", "SUPERSEDE", "2",
        "FLEXID=9-6B3366B2", "0A1B2C3D",
    ]  # fmt: skip
    expected = b"".join(len(field.encode()).to_bytes(4, "big") + field.encode() for field in fields)
    assert expected == signed_message(
        kind="FEATURE",
        feature="ansys",
        vendor="ansyslmd",
        version="2027.1231",
        expiration=datetime.date(2027, 12, 31),
        count=None,
        attributes=[Attribute("HOSTID", "0A1B2C3D"), Attribute("SIGN", "00"), Attribute("SUPERSEDE")],
        server_host_ids=["FLEXID=9-6b3366b2", "0a1b2c3d"],
    )


def test_signed_message_is_unambiguous() -> None:
    def message(attributes: list[Attribute], host_ids: list[str]) -> bytes:
        return signed_message(
            kind="INCREMENT",
            feature="f",
            vendor="v",
            version="1.0",
            expiration=None,
            count=1,
            attributes=attributes,
            server_host_ids=host_ids,
        )

    assert message([Attribute("A", "1 2")], []) != message([Attribute("A", "1"), Attribute("2")], [])
    assert message([Attribute("A", "x")], ["0A1B2C3D"]) != message([Attribute("A", "x"), Attribute("B")], ["0A1B2C3D"])
    assert message([Attribute("A", " 1 \t 2 ")], []) == message([Attribute("A", "1 2")], [])
    assert message([Attribute("SIGN", "1"), Attribute("asset_info", "x")], []) == message([], [])


# ----------------------------------------------------------------------------- diff and keys


def test_license_diff() -> None:
    old = license_render(_document(_increment(count=5)), private_key=_KEY)
    new = license_render(_document(_increment(count=6)), private_key=_KEY)
    diff = license_diff(old, new)
    assert diff[:2] == ["--- old", "+++ new"]
    assert "-INCREMENT ansys ansyslmd 2027.1231 31-dec-2027 5 VENDOR_STRING=customer:01001234 \\" in diff
    assert "+INCREMENT ansys ansyslmd 2027.1231 31-dec-2027 6 VENDOR_STRING=customer:01001234 \\" in diff
    assert license_diff(old, old) == []


def test_private_key_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "signing.pem"
    key = private_key_load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert public_key_pem(private_key_load_or_create(path)) == public_key_pem(key)
    assert os.listdir(path.parent) == ["signing.pem"]


def test_private_key_creation_race_keeps_the_first_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "signing.pem"
    winner = Ed25519PrivateKey.generate()
    real_link = os.link

    def link_after_another_process(source: str, target: Path) -> None:
        # Another process finishes creating the key between our load attempt and our link.
        target.write_bytes(
            winner.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        real_link(source, target)

    monkeypatch.setattr(licensefile.os, "link", link_after_another_process)
    key = private_key_load_or_create(path)
    assert public_key_pem(key) == public_key_pem(winner)
    assert os.listdir(tmp_path) == ["signing.pem"]


def test_concurrent_creation_ends_with_one_key(tmp_path: Path) -> None:
    path = tmp_path / "signing.pem"
    barrier = threading.Barrier(8)
    keys: list[str] = []

    def create() -> None:
        barrier.wait()
        keys.append(public_key_pem(private_key_load_or_create(path)))

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(keys) == 8
    assert len(set(keys)) == 1


def test_public_key_pem_round_trip() -> None:
    pem = public_key_pem(_KEY)
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    public_key = public_key_from_pem(pem.encode())
    assert license_verify(_RENDERED, public_key=public_key).valid


def test_public_key_from_pem_refuses_other_key_types() -> None:
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    pem = other.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(ValueError, match="Ed25519"):
        public_key_from_pem(pem)


def test_non_ed25519_private_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "signing.pem"
    path.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(ValueError, match="Ed25519"):
        private_key_load_or_create(path)
