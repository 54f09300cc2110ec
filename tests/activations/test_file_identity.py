"""A signed file is one file: its lines cannot be repeated, dropped, reordered or carried in
from another version or server (issue #12, item 3). Pure: no database.

Each INCREMENT line signs SN=<customer>-S<server>-V<version>-L<position>-N<count>; the
generated tests mutate signed files the ways an administrator could and check the reason.
"""

from __future__ import annotations

import datetime
import random
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from activations.licensefile import (
    FileIdentity,
    IncrementSpec,
    LicenseDocument,
    ServerSpec,
    license_parse,
    license_render,
    license_verify,
)

_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
_PUBLIC = _KEY.public_key()
_HOST = ServerSpec("lic01", "001122AABBCC", 1055)
_OTHER_HOST = ServerSpec("lic02", "0A1B2C3D", 1055)
_FEATURES = ["ansys", "anshpc_pack", "acfdsol3", "dsdxm", "a_hpc", "mech_pro"]


def _increment(feature: str, count: int) -> IncrementSpec:
    return IncrementSpec(
        feature=feature,
        version="2027.1231",
        expiration=datetime.date(2027, 12, 31),
        count=count,
        vendor_string="customer:01001234",
        issued=datetime.date(2026, 11, 28),
        start=datetime.date(2026, 1, 1),
        borrow_hours=None,
        comment=f"{feature}: {count} task(s)",
    )


def _render(
    lines: int,
    *,
    customer: str = "1001234",
    server: int = 17,
    version: int = 3,
    host: ServerSpec = _HOST,
    counts: int = 10,
) -> str:
    document = LicenseDocument(
        header=f"License file for customer {customer}, server {server}, version {version}",
        servers=(host,),
        vendor="ansyslmd",
        vendor_port=1056,
        increments=tuple(_increment(_FEATURES[i], counts + i) for i in range(lines)),
        identity=FileIdentity(customer=customer, server=server, version=version),
    )
    return license_render(document, private_key=_KEY)


def _split(text: str) -> tuple[list[str], list[list[str]]]:
    """(the lines before the first INCREMENT block, the blocks: comment + three lines)."""
    lines = text.rstrip("\n").split("\n")
    first = next(i for i, line in enumerate(lines) if line.startswith("INCREMENT")) - 1
    blocks = [lines[i : i + 4] for i in range(first, len(lines), 4)]
    return lines[:first], blocks


def _join(preamble: list[str], blocks: list[list[str]]) -> str:
    return "\n".join(preamble + [line for block in blocks for line in block]) + "\n"


def _codes(text: str) -> set[str]:
    result = license_verify(text, public_key=_PUBLIC)
    assert result.valid == (not result.failures)
    return {failure.code for failure in result.failures}


# --------------------------------------------------------------------------- known cases


def test_a_rendered_file_is_valid_and_knows_its_identity() -> None:
    result = license_verify(_render(3), public_key=_PUBLIC)
    assert result.valid
    assert result.identity == FileIdentity("1001234", 17, 3)
    assert [f.attribute("SN").value for f in license_parse(_render(3)).features] == [
        "1001234-S17-V3-L1-N3",
        "1001234-S17-V3-L2-N3",
        "1001234-S17-V3-L3-N3",
    ]


def test_duplicating_an_increment_block_fails_as_repeated() -> None:
    """The reported attack: 10 seats, the block pasted four more times, FlexLM counts 50."""
    preamble, blocks = _split(_render(1))
    text = _join(preamble, blocks * 5)
    result = license_verify(text, public_key=_PUBLIC)
    assert not result.valid
    assert [f.code for f in result.failures] == ["repeated"] * 4
    assert "repeats line 6" in result.failures[0].reason
    assert "FlexLM would add its count again" in result.failures[0].reason


def test_a_line_of_an_older_version_fails_as_other_version() -> None:
    preamble, blocks = _split(_render(2, version=3))
    _, old_blocks = _split(_render(2, version=2, counts=40))
    result = license_verify(_join(preamble, [*blocks, old_blocks[0]]), public_key=_PUBLIC)
    assert [(f.code, f.reason) for f in result.failures] == [
        ("other_version", "taken from version 2 of this server's file (the file is version 3)")
    ]


def test_a_line_of_another_customers_server_with_the_same_host_id_fails_as_other_server() -> None:
    # Host IDs are unique per customer only: the signature verifies, the SN does not fit.
    preamble, blocks = _split(_render(2))
    _, foreign = _split(_render(1, customer="2005678", server=40, version=7, counts=500))
    result = license_verify(_join(preamble, [*blocks, *foreign]), public_key=_PUBLIC)
    assert [f.code for f in result.failures] == ["other_server"]
    assert "customer 2005678, server 40, version 7" in result.failures[0].reason


def test_a_dropped_line_is_reported_for_the_file() -> None:
    preamble, blocks = _split(_render(4))
    result = license_verify(_join(preamble, [blocks[0], blocks[1], blocks[3]]), public_key=_PUBLIC)
    assert [(f.line, f.code) for f in result.failures] == [(0, "dropped")]
    assert "signed line(s) 3 of 4 missing" in result.failures[0].reason


def test_lines_without_identity_fail() -> None:
    document = LicenseDocument(
        header="old", servers=(_HOST,), vendor="ansyslmd", vendor_port=None, increments=(_increment("ansys", 2),)
    )
    result = license_verify(license_render(document, private_key=_KEY), public_key=_PUBLIC)
    assert [f.code for f in result.failures] == ["no_identity"]


def test_a_tampered_count_is_still_a_signature_failure_only() -> None:
    text = _render(2).replace(" 10 VENDOR_STRING", " 99 VENDOR_STRING")
    result = license_verify(text, public_key=_PUBLIC)
    assert [(f.code, f.reason) for f in result.failures] == [("signature", "signature does not match")]


# --------------------------------------------------------------------------- generated mutations


@st.composite
def _mutation(draw: Any) -> tuple[str, str]:
    """(a mutated signed file, the failure code it must produce)."""
    count = draw(st.integers(1, 5))
    preamble, blocks = _split(_render(count))
    kind = draw(st.sampled_from(["repeat", "drop", "reorder", "other_version", "other_server", "other_host"]))
    rng = random.Random(draw(st.integers(0, 2**32)))
    if kind == "repeat":
        copy = rng.choice(blocks)
        for _ in range(draw(st.integers(1, 3))):
            blocks.insert(rng.randrange(len(blocks) + 1), copy)
        return _join(preamble, blocks), "repeated"
    if kind == "drop":
        if count == 1:
            return _join(preamble, blocks), ""  # nothing to drop but everything: see below
        keep = sorted(rng.sample(range(count), rng.randrange(1, count)))
        return _join(preamble, [blocks[i] for i in keep]), "dropped"
    if kind == "reorder":
        if count == 1:
            return _join(preamble, blocks), ""
        order = list(range(count))
        while order == sorted(order):
            rng.shuffle(order)
        return _join(preamble, [blocks[i] for i in order]), "reordered"
    if kind == "other_version":
        version = draw(st.sampled_from([1, 2, 4]))
        _, other = _split(_render(draw(st.integers(1, 5)), version=version, counts=rng.randrange(11, 99)))
        blocks.insert(rng.randrange(len(blocks) + 1), rng.choice(other))
        return _join(preamble, blocks), "other_version"
    if kind == "other_server":
        _, other = _split(_render(draw(st.integers(1, 5)), customer="2005678", server=rng.randrange(18, 99)))
        blocks.insert(rng.randrange(len(blocks) + 1), rng.choice(other))
        return _join(preamble, blocks), "other_server"
    # A line of this customer's other server (other host ID): its signature fails too. It
    # replaces a line when another one is left to tell the file's identity.
    _, other = _split(_render(draw(st.integers(1, 5)), server=18, host=_OTHER_HOST))
    if count > 1:
        blocks[rng.randrange(len(blocks))] = rng.choice(other)
    else:
        blocks.insert(rng.randrange(2), rng.choice(other))
    return _join(preamble, blocks), "other_server"


@settings(max_examples=150, deadline=None)
@given(_mutation())
def test_every_mutation_fails_with_its_reason(mutation: tuple[str, str]) -> None:
    text, code = mutation
    if not code:  # a one-line file cannot be reordered, nor lose a line and keep one
        assert _codes(text) == set()
        return
    codes = _codes(text)
    assert code in codes, (code, codes)


_EDITS = [
    lambda text: text.replace("SERVER lic01 ", "SERVER lic01-renamed.example.com "),
    lambda text: text.replace(" 1055\n", " 27000\n"),
    lambda text: text.replace("VENDOR ansyslmd PORT=1056", "VENDOR ansyslmd OPTIONS=/opt/ansyslmd.opt"),
    lambda text: text.replace("ISSUER=PORTAL", 'ISSUER=PORTAL asset_info="rack 4"'),
    lambda text: text.replace("INCREMENT", "# edited by the administrator\nINCREMENT"),
    lambda text: text.replace("\n", "\r\n"),
    lambda text: text.replace(" \\\n\t", " "),
    lambda text: text.replace("001122AABBCC", "001122aabbcc"),
]


@settings(max_examples=60, deadline=None)
@given(count=st.integers(1, 5), edits=st.lists(st.sampled_from(range(len(_EDITS))), min_size=1, unique=True))
def test_allowed_edits_keep_the_file_valid_and_its_identity(count: int, edits: list[int]) -> None:
    text = _render(count)
    for index in edits:
        text = _EDITS[index](text)
    result = license_verify(text, public_key=_PUBLIC)
    assert result.valid, result.failures
    assert result.identity == FileIdentity("1001234", 17, 3)


@pytest.mark.parametrize(
    "value", ["", "1001234-S17-V3-L0-N2", "1001234-S17-V3-L3-N2", "x-S1-V1-L1-N1", "1001234-S17-V3-L1-N2 "]
)
def test_foreign_serial_numbers_do_not_count_as_identities(value: str) -> None:
    from activations.licensefile import _serial_parse

    assert _serial_parse(value) is None


def test_an_unsigned_serial_number_cannot_make_the_check_walk_a_huge_count() -> None:
    preamble, blocks = _split(_render(1))
    forged = [line.replace("-L1-N1", "-L1-N999999999") for line in blocks[0]]
    result = license_verify(_join(preamble, [forged]), public_key=_PUBLIC)
    assert [f.code for f in result.failures] == ["signature"]
    result = license_verify(_join(preamble, [blocks[0], forged]), public_key=_PUBLIC)
    assert [f.code for f in result.failures] == ["signature"]
