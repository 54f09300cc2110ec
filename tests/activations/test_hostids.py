"""Host ID validation and normalisation (pure Python, no Django)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from activations.hostids import HostIdError, HostIdType, hostid_detect, hostid_normalise

ETHER = HostIdType.ETHER
DISK = HostIdType.DISK_SERIAL
FLEXID9 = HostIdType.FLEXID9
FLEXID10 = HostIdType.FLEXID10


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        (ETHER, "001122AABBCC", "001122AABBCC"),
        (ETHER, "001122aabbcc", "001122AABBCC"),
        (ETHER, "  00:11:22:aa:bb:cc\n", "001122AABBCC"),
        (ETHER, "00-11-22-AA-BB-CC", "001122AABBCC"),
        (ETHER, "0011.22aa.bbcc", "001122AABBCC"),
        (ETHER, "00 11 22 aa bb cc", "001122AABBCC"),
        (ETHER, "000000000000", "000000000000"),
        (DISK, "0A1B2C3D", "0A1B2C3D"),
        (DISK, " 0a1b2c3d ", "0A1B2C3D"),
        (DISK, "0A1B-2C3D", "0A1B2C3D"),
        (DISK, "DISK_SERIAL_NUM=0a1b2c3d", "0A1B2C3D"),
        (FLEXID9, "FLEXID=9-1A2B3C4D", "FLEXID=9-1A2B3C4D"),
        (FLEXID9, "flexid=9-1a2b3c4d", "FLEXID=9-1A2B3C4D"),
        (FLEXID9, "9-1a2b3c4d", "FLEXID=9-1A2B3C4D"),
        (FLEXID9, " 1a2b3c4d ", "FLEXID=9-1A2B3C4D"),
        (FLEXID10, "FLEXID=10-6b3366b2", "FLEXID=10-6B3366B2"),
        (FLEXID10, "10-6B3366B2", "FLEXID=10-6B3366B2"),
        (FLEXID10, "6b3366b2", "FLEXID=10-6B3366B2"),
        ("ETHER", "001122aabbcc", "001122AABBCC"),
        ("FLEXID9", "1a2b3c4d", "FLEXID=9-1A2B3C4D"),
    ],
)
def test_normalise_accepts_human_input(kind: HostIdType | str, value: str, expected: str) -> None:
    assert hostid_normalise(kind, value) == expected


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (ETHER, ""),
        (ETHER, "xyz"),
        (ETHER, "001122AABBC"),
        (ETHER, "001122AABBCCD"),
        (ETHER, "001122AABBGG"),
        (ETHER, "0x1122AABBCC"),
        (ETHER, "00112233445\u0661"),  # an Arabic-Indic digit
        (ETHER, "001122AABB\x00C"),
        (ETHER, "0" * 10_000),
        (DISK, "0A1B2C3"),
        (DISK, "001122AABBCC"),
        (DISK, "0A1B_2C3D"),
        (FLEXID9, "FLEXID=10-1A2B3C4D"),
        (FLEXID9, "FLEXID=9-1A2B3C4"),
        (FLEXID9, "FLEXID=9-1A2B3C4DE"),
        (FLEXID10, "9-1A2B3C4D"),
        (FLEXID10, "FLEXID=10-"),
    ],
)
def test_normalise_rejects(kind: HostIdType, value: str) -> None:
    with pytest.raises(HostIdError):
        hostid_normalise(kind, value)


def test_error_message_says_what_was_expected() -> None:
    with pytest.raises(HostIdError) as excinfo:
        hostid_normalise(ETHER, "xyz")
    assert str(excinfo.value) == "An Ethernet address is 12 hexadecimal digits, e.g. 001122AABBCC; got 'xyz'."


def test_error_message_shortens_long_input() -> None:
    with pytest.raises(HostIdError) as excinfo:
        hostid_normalise(DISK, "A" * 5000)
    assert len(str(excinfo.value)) < 200


def test_unknown_kind_is_a_host_id_error() -> None:
    with pytest.raises(HostIdError, match="Unknown host ID type"):
        hostid_normalise("MAC", "001122AABBCC")


@pytest.mark.parametrize("kind", list(HostIdType))
def test_labels_and_examples(kind: HostIdType) -> None:
    assert kind.label
    assert hostid_normalise(kind, kind.example) == kind.example
    assert hostid_detect(kind.example) is kind


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0050569A3F21", ETHER),
        ("0050569a3f21", ETHER),
        ("0A1B2C3D", DISK),
        ("FLEXID=9-6b3366b2", FLEXID9),
        ("FLEXID=10-6B3366B2", FLEXID10),
    ],
)
def test_detect(value: str, expected: HostIdType) -> None:
    assert hostid_detect(value) is expected


@pytest.mark.parametrize(
    "value",
    ["", "ANY", "ID=1234", "00:50:56:9A:3F:21", " 0A1B2C3D", "0A1B2C3", "FLEXID=8-6B3366B2", "FLEXID=9-6B3366B"],
)
def test_detect_rejects(value: str) -> None:
    with pytest.raises(HostIdError):
        hostid_detect(value)


@given(kind=st.sampled_from(HostIdType), value=st.text())
def test_normalise_returns_str_or_raises_host_id_error_and_is_idempotent(kind: HostIdType, value: str) -> None:
    try:
        normalised = hostid_normalise(kind, value)
    except HostIdError:
        return
    assert isinstance(normalised, str)
    assert hostid_normalise(kind, normalised) == normalised
    assert hostid_detect(normalised) is kind


@given(value=st.text())
def test_detect_returns_type_or_raises_host_id_error(value: str) -> None:
    try:
        detected = hostid_detect(value)
    except HostIdError:
        return
    assert isinstance(detected, HostIdType)
    assert hostid_normalise(detected, value)  # what is detected as a type is a valid host ID of it


_HEX_DIGIT = st.sampled_from("0123456789abcdefABCDEF")


@given(octets=st.lists(st.tuples(_HEX_DIGIT, _HEX_DIGIT).map("".join), min_size=6, max_size=6))
def test_mac_separator_styles_normalise_alike(octets: list[str]) -> None:
    expected = "".join(octets).upper()
    styles = [
        "".join(octets),
        ":".join(octets),
        "-".join(octets),
        " ".join(octets),
        ".".join("".join(octets[i : i + 2]) for i in range(0, 6, 2)),
        f"  {':'.join(octets).lower()}\t",
    ]
    assert {hostid_normalise(ETHER, style) for style in styles} == {expected}
