"""FlexLM host IDs: validation and normalisation.

Two entry points with different jobs:

- `hostid_normalise` takes what a person typed into a form (any case, surrounding white
  space, MAC separators, FLEXID with or without its prefix) and returns the canonical form
  written into license files.
- `hostid_detect` takes a host ID exactly as written in a license file and says which kind
  it is.

Both raise only `HostIdError` (a `ValueError`) for any `str` input, with a message that
tells the user what was expected. Hex digits are checked against an explicit ASCII set:
`int(x, 16)` would accept underscores, and both it and `str.isdigit` accept non-ASCII
(e.g. Arabic-Indic) digits.
"""

from __future__ import annotations

import enum

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

__all__ = ["HostIdError", "HostIdType", "hostid_detect", "hostid_normalise"]

_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")

# Separators people copy along with a MAC address or Windows volume serial
# (`ipconfig /all` prints 00-11-22-AA-BB-CC, `vol` prints 0A1B-2C3D).
_SEPARATORS = str.maketrans("", "", ":-. ")

# No valid input is anywhere near this long; checking the length first keeps the error
# message short and the work bounded for hostile input.
_MAX_INPUT_LENGTH = 64

# How much of a rejected value is quoted back in the error message.
_SHOWN_LENGTH = 30


class HostIdType(enum.StrEnum):
    """The host ID kinds a license server may be locked to."""

    ETHER = "ETHER"
    DISK_SERIAL = "DISK_SERIAL"
    FLEXID9 = "FLEXID9"
    FLEXID10 = "FLEXID10"

    @property
    def label(self) -> str:
        """Human-readable name, e.g. for a form's choice list (translated lazily)."""
        return _LABELS[self]

    @property
    def example(self) -> str:
        """A valid host ID of this kind in canonical (license file) form."""
        return _EXAMPLES[self]


_LABELS = {
    HostIdType.ETHER: gettext_lazy("Ethernet MAC address"),
    HostIdType.DISK_SERIAL: gettext_lazy("Disk serial number"),
    HostIdType.FLEXID9: gettext_lazy("FLEXID 9 dongle"),
    HostIdType.FLEXID10: gettext_lazy("FLEXID 10 dongle"),
}

_EXAMPLES = {
    HostIdType.ETHER: "001122AABBCC",
    HostIdType.DISK_SERIAL: "0A1B2C3D",
    HostIdType.FLEXID9: "FLEXID=9-1A2B3C4D",
    HostIdType.FLEXID10: "FLEXID=10-1A2B3C4D",
}

_EXPECTATIONS = {
    HostIdType.ETHER: gettext_lazy("An Ethernet address is 12 hexadecimal digits"),
    HostIdType.DISK_SERIAL: gettext_lazy("A disk serial number is 8 hexadecimal digits"),
    HostIdType.FLEXID9: gettext_lazy("A FLEXID 9 dongle ID is FLEXID=9- followed by 8 hexadecimal digits"),
    HostIdType.FLEXID10: gettext_lazy("A FLEXID 10 dongle ID is FLEXID=10- followed by 8 hexadecimal digits"),
}

# The dongle generation written after "FLEXID=" in a license file.
_FLEXID_GENERATIONS = {HostIdType.FLEXID9: "9", HostIdType.FLEXID10: "10"}


class HostIdError(ValueError):
    """A host ID that is not valid for its kind; the message is meant for the end user."""


def _shown(value: str) -> str:
    """`value` quoted for an error message, shortened if long."""
    if len(value) > _SHOWN_LENGTH:
        return repr(value[:_SHOWN_LENGTH] + "…")
    return repr(value)


def _is_hex(text: str, length: int) -> bool:
    return len(text) == length and _HEX_DIGITS.issuperset(text)


def _expectation_error(kind: HostIdType, value: str) -> HostIdError:
    return HostIdError(
        _("%(expected)s, e.g. %(example)s; got %(value)s.")
        % {"expected": _EXPECTATIONS[kind], "example": kind.example, "value": _shown(value)}
    )


def _normalise_flexid(kind: HostIdType, text: str) -> str | None:
    """Canonical FLEXID for `text` (already stripped), or None if it is not one of `kind`.

    Accepted: FLEXID=9-1a2b3c4d, 9-1a2b3c4d or 1a2b3c4d (prefix case-insensitive).
    """
    generation = _FLEXID_GENERATIONS[kind]
    if text[:7].upper() == "FLEXID=":
        text = text[7:]
    prefix = generation + "-"
    if text.startswith(prefix):
        text = text[len(prefix) :]
    if not _is_hex(text, 8):
        return None
    return f"FLEXID={generation}-{text.upper()}"


def hostid_normalise(kind: HostIdType | str, value: str) -> str:
    """Return `value` as a canonical host ID of `kind`, as written in license files.

    Canonical forms: ETHER -> 12 upper-case hex digits; DISK_SERIAL -> 8 upper-case hex
    digits; FLEXID9/FLEXID10 -> ``FLEXID=9-1A2B3C4D`` / ``FLEXID=10-1A2B3C4D``.
    Invariant: ``hostid_normalise(kind, hostid_normalise(kind, v)) == hostid_normalise(kind, v)``.
    Raises HostIdError (and nothing else) for an unknown kind or an invalid value.
    """
    try:
        kind = HostIdType(kind)
    except ValueError:
        raise HostIdError(_("Unknown host ID type %(kind)s.") % {"kind": _shown(str(kind))}) from None
    if len(value) > _MAX_INPUT_LENGTH:
        raise _expectation_error(kind, value)
    text = value.strip()
    if kind in _FLEXID_GENERATIONS:
        normalised = _normalise_flexid(kind, text)
        if normalised is None:
            raise _expectation_error(kind, value)
        return normalised
    if kind is HostIdType.DISK_SERIAL and text[:16].upper() == "DISK_SERIAL_NUM=":
        # What `lmhostid -vsn` prints; the license file carries the bare digits.
        text = text[16:]
    digits = text.translate(_SEPARATORS)
    if not _is_hex(digits, 12 if kind is HostIdType.ETHER else 8):
        raise _expectation_error(kind, value)
    return digits.upper()


def hostid_detect(value: str) -> HostIdType:
    """Return the kind of a host ID written exactly as in a license file.

    12 hex digits -> ETHER, 8 hex digits -> DISK_SERIAL, ``FLEXID=9-`` / ``FLEXID=10-``
    followed by 8 hex digits -> FLEXID9 / FLEXID10. Hex digits may be in either case;
    no white space or separators are accepted. Raises HostIdError otherwise.
    """
    if _is_hex(value, 12):
        return HostIdType.ETHER
    if _is_hex(value, 8):
        return HostIdType.DISK_SERIAL
    for kind, generation in _FLEXID_GENERATIONS.items():
        prefix = f"FLEXID={generation}-"
        if value.startswith(prefix) and _is_hex(value[len(prefix) :], 8):
            return kind
    raise HostIdError(
        _(
            "A host ID is 12 hexadecimal digits (Ethernet address), 8 hexadecimal digits "
            "(disk serial number), FLEXID=9-xxxxxxxx or FLEXID=10-xxxxxxxx (dongle); "
            "got %(value)s."
        )
        % {"value": _shown(value)}
    )
