"""FlexLM license files in the portal's dialect: parse, render, sign and verify.

The dialect is the one in DESIGN.md, "License file dialect (stable)":

    # <header>
    SERVER <host> <host id> <port>            (one line, or three for a triad)
    VENDOR <daemon> [PORT=<n>]
    USE_SERVER
    # <comment>
    INCREMENT <feature> <daemon> <version> <dd-mmm-yyyy|permanent> <count> VENDOR_STRING=... \\
    <TAB>ISSUER=PORTAL ISSUED=<date> START=<date> [BORROW=<hours>] \\
    <TAB>SIGN="XXXX XXXX ..."

The parser also reads the shapes seen in the field (see shared/samples/licenses): FEATURE
lines, CRLF line endings, bare keywords such as SUPERSEDE, quoted values, VENDOR options,
uncounted node-locked lines without SERVER, and continuations inside a quoted value.

Physical lines are joined into logical lines like FlexLM does: a trailing backslash is
removed and the line break becomes one space (the next line's leading tab is kept, which is
what an independent FlexLM parser reports for a SIGN2 value wrapped inside its quotes).
A comment line never continues.

Signatures (SIGN=) are Ed25519 over `signed_message`, which covers what a line means and
every SERVER host ID, but nothing an administrator may edit when moving the file to another
machine: host names, ports, VENDOR line options, keywords written in lower case (FlexLM's
convention for unauthenticated fields such as asset_info=), comments and layout.

A signature binds a line, and FlexLM adds up the counts of INCREMENT lines: a repeated line
doubles its seats. So every line also carries, as FlexLM's serial number keyword, the identity
of the file it was issued in, and signs it like any other upper-case attribute:

    SN=<customer number>-S<server id>-V<file version>-L<position>-N<number of signed lines>

e.g. ``SN=1001234-S17-V3-L2-N5``: line 2 of the 5 signed lines of version 3 of server 17's
file of customer 1001234. `license_verify` then proves from the file alone (offline, with
the public key) that the signed lines are exactly one version's lines, each once and in
order; every way to break that has its own `LineFailure.code`:

- ``repeated``: a second line with the same position (FlexLM would add its count again);
- ``dropped``: positions 1..N not all present (reported for the file, line 0);
- ``reordered``: positions not increasing;
- ``other_version``: a line of another version of the same server's file;
- ``other_server``: a line of another server's (or customer's) file; its signature usually
  fails too, since every line also signs the SERVER host IDs;
- ``no_identity``: a correctly signed line without SN= (issued before file identities);
- ``signature`` / ``unsigned`` / ``malformed``: the line itself does not verify.

The file's identity is the one most of its correctly signed lines carry (the first line's
on a tie); `VerifyResult.identity` returns it, so the portal can look the file up and say
whether it is the current version or "superseded by version N" (activations/selectors.py).
The editable fields stay editable: SN= is one more signed attribute, nothing else changed.
"""

from __future__ import annotations

import datetime
import difflib
import functools
import os
import pathlib
import re
import tempfile
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from activations.hostids import HostIdError, hostid_detect, hostid_normalise

__all__ = [
    "Attribute",
    "FileIdentity",
    "IncrementSpec",
    "LicenseDocument",
    "LicenseParseError",
    "LineFailure",
    "ParsedFeature",
    "ParsedLicense",
    "ParsedServer",
    "ParsedVendor",
    "ServerSpec",
    "VerifyResult",
    "flexlm_date",
    "license_diff",
    "license_parse",
    "license_render",
    "license_verify",
    "load_private_key",
    "private_key_load_or_create",
    "public_key_from_pem",
    "public_key_pem",
    "signed_message",
]

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTH_NUMBERS = {name: number for number, name in enumerate(_MONTHS, start=1)}

_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_HOST_CHARS = _NAME_CHARS | frozenset(".-:")
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
# Printable ASCII except space, the quote and the backslash: such a value can be written
# unquoted and cannot be mistaken for a continuation.
_PLAIN_VALUE_CHARS = frozenset(chr(c) for c in range(0x21, 0x7F)) - frozenset('"\\')

# FlexLM's limits: feature names up to 30 characters, vendor daemon names up to 10.
_MAX_FEATURE_LENGTH = 30
_MAX_VENDOR_LENGTH = 10
_MAX_KEYWORD_LENGTH = 64
_MAX_HOST_LENGTH = 255
_MAX_VERSION_LENGTH = 20
# Decimals are limited to 9 digits so that int() never meets Python's digit limit and
# every count the renderer accepts can be read back.
_MAX_DECIMAL_DIGITS = 9
_MAX_COUNT = 10**_MAX_DECIMAL_DIGITS - 1
_MAX_PORT = 65535

_FEATURE_KINDS = ("INCREMENT", "FEATURE")
_SIGNATURE_KEYWORDS = ("SIGN", "SIGN2")
_SIGNATURE_BYTES = 64
_DATE_KEYWORDS = ("ISSUED", "START")

# Characters a logical line may not contain: control characters other than tab (a stray
# CR means a mangled line ending), Unicode line and paragraph separators (other tools
# split lines there), and lone surrogates, which cannot be encoded for signing.
_FORBIDDEN_CHARACTER = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")

# Domain separation: a signature made for this message format means nothing elsewhere.
_MESSAGE_TAG = "flexnet-portal license line v1"


# --------------------------------------------------------------------------- parsing


class LicenseParseError(ValueError):
    """A license file that is not in the dialect; `line` is the 1-based number of the
    (first physical) line at fault.

    ``str(error)`` is ``"line <line>: <reason>"``.
    """

    def __init__(self, line: int, reason: str) -> None:
        # Both go into args so that the exception survives pickling (e.g. by Celery).
        super().__init__(line, reason)
        self.line = line
        self.reason = reason

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass(frozen=True)
class Attribute:
    """A keyword on a VENDOR, INCREMENT or FEATURE line: ``NAME=value`` or a bare ``NAME``.

    Invariant (for parsed attributes): `name` is a keyword ([A-Za-z_][A-Za-z0-9_]*) and
    `value`, when present, is non-empty with its quotes removed.
    """

    name: str
    value: str | None = None

    @property
    def has_value(self) -> bool:
        return self.value is not None


@dataclass(frozen=True)
class ParsedServer:
    """A SERVER line. `host_id` is as written (valid per `hostids.hostid_detect`)."""

    line: int
    host: str
    host_id: str
    port: int


@dataclass(frozen=True)
class ParsedVendor:
    """A VENDOR line; a PORT= attribute, if any, holds a valid port number."""

    line: int
    name: str
    attributes: tuple[Attribute, ...]


@dataclass(frozen=True)
class ParsedFeature:
    """An INCREMENT or FEATURE line.

    Invariants: `expiration` is the date as written and `expiration_date` its value (None
    for permanent); `count` is a positive integer, or None for ``uncounted`` (and then a
    HOSTID= attribute is present); attribute names are unique and in file order; ISSUED=
    and START= are valid dates, BORROW= a positive integer, HOSTID= valid host IDs.
    """

    line: int
    kind: str
    name: str
    vendor: str
    version: str
    expiration: str
    expiration_date: datetime.date | None
    count: int | None
    attributes: tuple[Attribute, ...]

    @property
    def uncounted(self) -> bool:
        return self.count is None

    def attribute(self, name: str) -> Attribute | None:
        """The attribute called exactly `name`, if the line has one."""
        for attribute in self.attributes:
            if attribute.name == name:
                return attribute
        return None


@dataclass(frozen=True)
class ParsedLicense:
    """A whole license file. There are zero, one or three servers, in file order."""

    servers: tuple[ParsedServer, ...]
    vendors: tuple[ParsedVendor, ...]
    features: tuple[ParsedFeature, ...]
    use_server: bool


@dataclass(frozen=True)
class FileIdentity:
    """Which file a signed line was issued in: customer number (digits), server id, version."""

    customer: str
    server: int
    version: int

    def serial(self, position: int, total: int) -> str:
        """The SN= value of the `position`-th of `total` signed lines (1-based)."""
        return f"{self.customer}-S{self.server}-V{self.version}-L{position}-N{total}"


_SERIAL = re.compile(r"([0-9]{1,12})-S([0-9]{1,12})-V([0-9]{1,9})-L([0-9]{1,9})-N([0-9]{1,9})")


def _serial_parse(value: str | None) -> tuple[FileIdentity, int, int] | None:
    """(identity, position, total) from an SN= value, None if it is not one of ours."""
    match = _SERIAL.fullmatch(value or "")
    if match is None:
        return None
    customer, server, version, position, total = match.groups()
    if not 1 <= int(position) <= int(total):
        return None
    return FileIdentity(customer, int(server), int(version)), int(position), int(total)


def _shown(text: str) -> str:
    """`text` in double quotes for an error message, shortened if long."""
    if len(text) > 40:
        text = text[:40] + "…"
    return f'"{text}"'


def _is_name(text: str, max_length: int) -> bool:
    return 0 < len(text) <= max_length and _NAME_CHARS.issuperset(text)


def _is_keyword(text: str) -> bool:
    return _is_name(text, _MAX_KEYWORD_LENGTH) and not text[0].isdigit()


def _is_host(text: str) -> bool:
    return 0 < len(text) <= _MAX_HOST_LENGTH and _HOST_CHARS.issuperset(text)


def _is_decimal(text: str) -> bool:
    return 0 < len(text) <= _MAX_DECIMAL_DIGITS and text.isascii() and text.isdigit()


def _is_version(text: str) -> bool:
    whole, dot, fraction = text.partition(".")
    return (
        len(text) <= _MAX_VERSION_LENGTH
        and whole.isascii()
        and whole.isdigit()
        and (not dot or (fraction.isascii() and fraction.isdigit()))
    )


def _parse_date(text: str) -> datetime.date:
    """Parse ``dd-mmm-yyyy`` (month in any case). Raises ValueError if not a real date."""
    day, month, year = text.split("-") if text.count("-") == 2 else ("", "", "")
    if not (
        1 <= len(day) <= 2
        and day.isascii()
        and day.isdigit()
        and month.lower() in _MONTH_NUMBERS
        and len(year) == 4
        and year.isascii()
        and year.isdigit()
    ):
        raise ValueError(text)
    return datetime.date(int(year), _MONTH_NUMBERS[month.lower()], int(day))


def _parse_expiration(line: int, text: str) -> datetime.date | None:
    if text.lower() == "permanent":
        return None
    return _date_or_error(line, text)


def _date_or_error(line: int, text: str) -> datetime.date:
    try:
        return _parse_date(text)
    except ValueError:
        raise LicenseParseError(line, f"invalid date {_shown(text)}") from None


def _port_or_error(line: int, text: str, what: str) -> int:
    port = int(text) if _is_decimal(text) else 0
    if not 1 <= port <= _MAX_PORT:
        raise LicenseParseError(line, f"invalid {what} port {_shown(text)} (expected 1 to 65535)")
    return port


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Yield (number of first physical line, joined text) for every non-comment line."""
    # Windows editors may save a byte order mark; it is not part of the first line.
    physical_lines = text.removeprefix("\ufeff").split("\n")
    if physical_lines[-1] == "":  # the final line's newline does not start another line
        physical_lines.pop()
    parts: list[str] = []
    start = 0
    for number, physical in enumerate(physical_lines, start=1):
        physical = physical.removesuffix("\r")
        if not parts:
            stripped = physical.lstrip(" \t")
            if not stripped or stripped.startswith("#"):
                continue
            start = number
        if physical.endswith("\\"):
            parts.append(physical[:-1])
            continue
        parts.append(physical)
        yield start, " ".join(parts)
        parts = []
    if parts:
        raise LicenseParseError(start, "line continues past the end of the file")


def _tokens(line: int, text: str) -> list[str]:
    """Split a logical line at spaces and tabs; ``NAME="a b"`` becomes ``NAME=a b``.

    A quote may only open right after ``NAME=`` and must close within the logical line,
    followed by white space or the end of the line.
    """
    forbidden = _FORBIDDEN_CHARACTER.search(text)
    if forbidden:
        raise LicenseParseError(line, f"invalid character U+{ord(forbidden.group()):04X}")
    tokens = []
    position, end = 0, len(text)
    while True:
        while position < end and text[position] in " \t":
            position += 1
        if position == end:
            return tokens
        start = position
        while position < end and text[position] not in ' \t"':
            position += 1
        if position < end and text[position] == '"':
            if position == start or text[position - 1] != "=":
                raise LicenseParseError(line, 'unexpected quote (only NAME="value" may be quoted)')
            closing = text.find('"', position + 1)
            if closing < 0:
                raise LicenseParseError(line, "unterminated quote")
            tokens.append(text[start:position] + text[position + 1 : closing])
            position = closing + 1
            if position < end and text[position] not in " \t":
                raise LicenseParseError(line, "text after closing quote")
        else:
            tokens.append(text[start:position])


def _attributes(line: int, tokens: list[str]) -> tuple[Attribute, ...]:
    attributes = []
    seen = set()
    for token in tokens:
        name, equals, value = token.partition("=")
        if not _is_keyword(name):
            raise LicenseParseError(line, f"invalid keyword {_shown(token)} (expected NAME or NAME=value)")
        if name in seen:
            raise LicenseParseError(line, f"duplicate keyword {name}")
        if equals and not value:
            raise LicenseParseError(line, f"missing value for {name}")
        seen.add(name)
        attributes.append(Attribute(name, value if equals else None))
    return tuple(attributes)


def _parse_server(line: int, tokens: list[str]) -> ParsedServer:
    if len(tokens) < 4:
        raise LicenseParseError(line, "a SERVER line needs a host name, a host ID and a port")
    if len(tokens) > 4:
        raise LicenseParseError(line, f"unexpected {_shown(tokens[4])} after the SERVER port")
    _, host, host_id, port = tokens
    if not _is_host(host):
        raise LicenseParseError(line, f"invalid SERVER host name {_shown(host)}")
    try:
        hostid_detect(host_id)
    except HostIdError as error:
        raise LicenseParseError(line, f"invalid SERVER host ID: {error}") from None
    return ParsedServer(line, host, host_id, _port_or_error(line, port, "SERVER"))


def _parse_vendor(line: int, tokens: list[str]) -> ParsedVendor:
    if len(tokens) < 2:
        raise LicenseParseError(line, "a VENDOR line needs a vendor daemon name")
    name = tokens[1]
    if not _is_name(name, _MAX_VENDOR_LENGTH):
        raise LicenseParseError(line, f"invalid vendor daemon name {_shown(name)}")
    attributes = _attributes(line, tokens[2:])
    for attribute in attributes:
        if attribute.name == "PORT":
            _port_or_error(line, attribute.value or "", "VENDOR")
    return ParsedVendor(line, name, attributes)


def _check_feature_attribute(line: int, attribute: Attribute) -> None:
    """Validate the attributes whose syntax FlexLM defines (dates, BORROW, HOSTID)."""
    name, value = attribute.name, attribute.value
    if name in _DATE_KEYWORDS:
        _date_or_error(line, value or "")
    elif name == "BORROW" and value is not None:
        # A bare BORROW means FlexLM's default borrow period.
        if not _is_decimal(value) or int(value) == 0:
            raise LicenseParseError(line, f"invalid BORROW hours {_shown(value)}")
    elif name == "HOSTID":
        for host_id in (value or "").split() or [""]:
            try:
                hostid_detect(host_id)
            except HostIdError as error:
                raise LicenseParseError(line, f"invalid HOSTID: {error}") from None


def _parse_feature(line: int, tokens: list[str], has_server: bool) -> ParsedFeature:
    kind = tokens[0]
    if len(tokens) < 6:
        raise LicenseParseError(
            line, f"the {kind} line needs a feature, vendor daemon, version, expiration date and count"
        )
    _, name, vendor, version, expiration, count_text = tokens[:6]
    if not _is_name(name, _MAX_FEATURE_LENGTH):
        raise LicenseParseError(line, f"invalid feature name {_shown(name)}")
    if not _is_name(vendor, _MAX_VENDOR_LENGTH):
        raise LicenseParseError(line, f"invalid vendor daemon name {_shown(vendor)}")
    if not _is_version(version):
        raise LicenseParseError(line, f"invalid version {_shown(version)}")
    expiration_date = _parse_expiration(line, expiration)
    count: int | None
    if count_text.lower() == "uncounted":
        count = None
    elif not _is_decimal(count_text):
        raise LicenseParseError(line, f"invalid decimal {_shown(count_text)}")
    else:
        count = int(count_text)
        if count == 0:
            raise LicenseParseError(line, "invalid license count 0 (expected a positive integer or uncounted)")
    attributes = _attributes(line, tokens[6:])
    for attribute in attributes:
        _check_feature_attribute(line, attribute)
    if count is None and not any(attribute.name == "HOSTID" for attribute in attributes):
        raise LicenseParseError(line, "an uncounted line must be node-locked with HOSTID=")
    if count is not None and not has_server:
        raise LicenseParseError(line, "a counted line needs a SERVER line before it")
    return ParsedFeature(line, kind, name, vendor, version, expiration, expiration_date, count, attributes)


def license_parse(text: str) -> ParsedLicense:
    """Parse a license file; raises LicenseParseError (and nothing else) if it is invalid.

    Values are kept as written (host IDs are not normalised, quotes are removed).
    """
    servers: list[ParsedServer] = []
    vendors: list[ParsedVendor] = []
    features: list[ParsedFeature] = []
    use_server = False
    for line, logical in _logical_lines(text):
        tokens = _tokens(line, logical)
        if not tokens:  # only continuation backslashes and white space
            continue
        keyword = tokens[0]
        if keyword == "SERVER":
            if len(servers) == 3:
                raise LicenseParseError(line, "more than three SERVER lines")
            servers.append(_parse_server(line, tokens))
        elif keyword == "VENDOR":
            vendors.append(_parse_vendor(line, tokens))
        elif keyword == "USE_SERVER":
            if len(tokens) > 1:
                raise LicenseParseError(line, "USE_SERVER takes no arguments")
            use_server = True
        elif keyword in _FEATURE_KINDS:
            features.append(_parse_feature(line, tokens, has_server=bool(servers)))
        else:
            raise LicenseParseError(
                line,
                f"unsupported line type {_shown(keyword)} (expected SERVER, VENDOR, USE_SERVER, INCREMENT or FEATURE)",
            )
    if len(servers) == 2:
        raise LicenseParseError(servers[1].line, "two SERVER lines; a redundant (triad) configuration has three")
    return ParsedLicense(tuple(servers), tuple(vendors), tuple(features), use_server)


# --------------------------------------------------------------------------- signing


def _is_signed_keyword(name: str) -> bool:
    """Whether an attribute is covered by the signature.

    Everything except SIGN/SIGN2 and keywords without an upper-case letter (asset_info=,
    ...), which are FlexLM's fields for administrators. Mixed-case names are signed, so
    re-casing a keyword cannot slip in an unsigned one.
    """
    return name not in _SIGNATURE_KEYWORDS and name != name.lower()


def signed_message(
    *,
    kind: str,
    feature: str,
    vendor: str,
    version: str,
    expiration: datetime.date | None,
    count: int | None,
    attributes: Iterable[Attribute],
    server_host_ids: Iterable[str],
) -> bytes:
    """The bytes an INCREMENT/FEATURE line's SIGN= signs.

    A sequence of fields, each UTF-8 encoded and prefixed with its length in bytes as a
    4-byte big-endian integer (so no field content can imitate a boundary):

        "flexnet-portal license line v1", kind, feature, vendor, version,
        expiration ("permanent" or ISO yyyy-mm-dd), count (decimal or "uncounted"),
        number of signed attributes (decimal), each signed attribute as "NAME=value" or
        "NAME" (value with white space runs folded to one space and trimmed),
        number of host IDs (decimal), each SERVER host ID in canonical form
        (`hostids.hostid_normalise`), in file order.

    Signed attributes are all but SIGN, SIGN2 and lower-case keywords; their order counts.
    Raises HostIdError if a host ID is invalid.
    """
    line_fields = _encoded_fields(
        _MESSAGE_TAG,
        kind,
        feature,
        vendor,
        version,
        "permanent" if expiration is None else expiration.isoformat(),
        "uncounted" if count is None else str(count),
    )
    # The same byte sequence as encoding every field in one go; the attribute part repeats
    # across the lines of a file (same vendor string, issue date, start), so it is cached.
    return line_fields + _encoded_attributes(tuple(attributes)) + _encoded_host_ids(tuple(server_host_ids))


@functools.lru_cache(maxsize=1024)
def _attributes_text(attributes: tuple[Attribute, ...]) -> str:
    """``VENDOR_STRING=... \\`` and, on the next physical line, the other attributes (a bare
    keyword such as SUPERSEDE as its name)."""
    vendor_string, *rest = attributes
    return (
        f"VENDOR_STRING={vendor_string.value} \\\n"
        + "\t"
        + " ".join(a.name if a.value is None else f"{a.name}={a.value}" for a in rest)
        + " \\"
    )


@functools.lru_cache(maxsize=1024)
def _encoded_attributes(attributes: tuple[Attribute, ...]) -> bytes:
    signed = [
        attribute.name if attribute.value is None else f"{attribute.name}={' '.join(attribute.value.split())}"
        for attribute in attributes
        if _is_signed_keyword(attribute.name)
    ]
    return _encoded_fields(str(len(signed)), *signed)


def _encoded_fields(*fields: str) -> bytes:
    """Each field as its UTF-8 length (4 bytes, big-endian) followed by its UTF-8 bytes."""
    parts = []
    for field in fields:
        encoded = field.encode()
        parts += (len(encoded).to_bytes(4, "big"), encoded)
    return b"".join(parts)


# Every line of a file signs the same host IDs; caching their encoding keeps rendering and
# verifying large files cheap.
@functools.lru_cache(maxsize=64)
def _encoded_host_ids(host_ids: tuple[str, ...]) -> bytes:
    canonical = [hostid_normalise(hostid_detect(host_id), host_id) for host_id in host_ids]
    return _encoded_fields(str(len(canonical)), *canonical)


def _format_signature(signature: bytes) -> str:
    return signature.hex(" ", 2).upper()


def _signature_from_text(text: str) -> bytes | None:
    """The signature bytes in a SIGN= value, or None if it is not 64 bytes of hex."""
    digits = "".join(text.split())
    if len(digits) != 2 * _SIGNATURE_BYTES or not _HEX_DIGITS.issuperset(digits):
        return None
    return bytes.fromhex(digits)


# --------------------------------------------------------------------------- rendering


def _check_comment(text: str, what: str) -> None:
    if _FORBIDDEN_CHARACTER.search(text):
        raise ValueError(f"{what} must be one line without control characters: {text!r}")
    # License servers and their tools read files in the system's code page (lmgrd on a
    # Windows server, lmtools): anything beyond ASCII comes out garbled (see ascii_text).
    if not text.isascii():
        raise ValueError(f"{what} must be ASCII: {text!r}")
    # Some FlexLM parsers continue a comment ending in a backslash, swallowing the next line.
    if text.endswith("\\"):
        raise ValueError(f"{what} must not end with a backslash: {text!r}")


_ASCII_LETTERS = str.maketrans(
    {
        "ı": "i",
        "İ": "I",
        "ß": "ss",
        "Æ": "AE",
        "æ": "ae",
        "Ø": "O",
        "ø": "o",
        "Œ": "OE",
        "œ": "oe",
        "Ł": "L",
        "ł": "l",
        "Đ": "D",
        "đ": "d",
        "Þ": "Th",
        "þ": "th",
    }
)


def ascii_text(text: str) -> str:
    """Text for a license file comment: letters without their accents ("Demo Mühendislik
    A.Ş." -> "Demo Muhendislik A.S."), anything else that has no ASCII form as "?"."""
    if text.isascii():
        return text  # most comments: nothing to replace (a fifth of a small file's render time)
    decomposed = unicodedata.normalize("NFKD", text.translate(_ASCII_LETTERS))
    return "".join(c if c.isascii() else "" if unicodedata.combining(c) else "?" for c in decomposed)


def _check_port(port: int, what: str) -> None:
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= _MAX_PORT:
        raise ValueError(f"{what} must be an integer from 1 to 65535, not {port!r}")


def _check_positive(number: int, what: str) -> None:
    if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= _MAX_COUNT:
        raise ValueError(f"{what} must be an integer from 1 to {_MAX_COUNT}, not {number!r}")


@dataclass(frozen=True)
class ServerSpec:
    """A license server to render. Invariants: `host` is a host name or address
    ([A-Za-z0-9_.:-], at most 255 characters), `host_id` is a canonical host ID (as
    returned by `hostids.hostid_normalise`), `port` is 1..65535."""

    host: str
    host_id: str
    port: int

    def __post_init__(self) -> None:
        if not _is_host(self.host):
            raise ValueError(f"invalid server host name {self.host!r}")
        if hostid_normalise(hostid_detect(self.host_id), self.host_id) != self.host_id:
            raise ValueError(f"server host ID {self.host_id!r} is not in canonical form")
        _check_port(self.port, "the server port")


@dataclass(frozen=True)
class IncrementSpec:
    """One INCREMENT line to render.

    Invariants: `feature` follows FlexLM's rules ([A-Za-z0-9_], 1 to 30 characters);
    `version` is a decimal such as 2027.1231; `expiration` None means permanent; `count`
    and `borrow_hours` (if set) are positive integers; `vendor_string` is non-empty
    printable ASCII without spaces, quotes or backslashes; `comment` is one line.
    """

    feature: str
    version: str
    expiration: datetime.date | None
    count: int
    vendor_string: str
    issued: datetime.date
    start: datetime.date
    borrow_hours: int | None
    comment: str

    def __post_init__(self) -> None:
        if not _is_name(self.feature, _MAX_FEATURE_LENGTH):
            raise ValueError(f"invalid feature name {self.feature!r} (1 to 30 of A-Z, a-z, 0-9, _)")
        if not _is_version(self.version):
            raise ValueError(f"invalid version {self.version!r} (expected e.g. 2027.1231)")
        _check_positive(self.count, "the license count")
        if not self.vendor_string or not _PLAIN_VALUE_CHARS.issuperset(self.vendor_string):
            raise ValueError(
                f"invalid VENDOR_STRING {self.vendor_string!r} (printable ASCII without spaces, quotes or backslashes)"
            )
        if self.borrow_hours is not None:
            _check_positive(self.borrow_hours, "BORROW hours")
        _check_comment(self.comment, "the comment")

    def attributes(self, serial: str | None = None) -> tuple[Attribute, ...]:
        """The line's attributes before SIGN=, in rendering order; `serial` is its SN= value
        (`FileIdentity.serial`), if the file has an identity."""
        return _increment_attributes(self.vendor_string, self.issued, self.start, self.borrow_hours, serial)


@functools.lru_cache(maxsize=1024)
def _increment_attributes(
    vendor_string: str, issued: datetime.date, start: datetime.date, borrow_hours: int | None, serial: str | None
) -> tuple[Attribute, ...]:
    # Immutable and shared: most lines of a file have the same four or five attributes.
    attributes = [
        Attribute("VENDOR_STRING", vendor_string),
        # As the vendor's own files do: this line replaces any older INCREMENT of the same
        # feature (an earlier ISSUED date) that a server may still read from another file.
        Attribute("SUPERSEDE"),
        Attribute("ISSUER", "PORTAL"),
        Attribute("ISSUED", flexlm_date(issued)),
        Attribute("START", flexlm_date(start)),
    ]
    if borrow_hours is not None:
        attributes.append(Attribute("BORROW", str(borrow_hours)))
    if serial is not None:
        attributes.append(Attribute("SN", serial))
    return tuple(attributes)


@dataclass(frozen=True)
class LicenseDocument:
    """A whole license file to render.

    Invariants: one server, or three for a redundant triad; `vendor` is a vendor daemon
    name ([A-Za-z0-9_], 1 to 10 characters); `vendor_port` is None or 1..65535; `header`
    is one line. `identity`, when given, is signed into every INCREMENT line as SN= (see the
    module docstring); the portal always gives it, and `license_verify` requires it.
    """

    header: str
    servers: tuple[ServerSpec, ...]
    vendor: str
    vendor_port: int | None
    increments: tuple[IncrementSpec, ...]
    identity: FileIdentity | None = None

    def __post_init__(self) -> None:
        _check_comment(self.header, "the header")
        if len(self.servers) not in (1, 3):
            raise ValueError(f"a license file has one server or three, not {len(self.servers)}")
        if not _is_name(self.vendor, _MAX_VENDOR_LENGTH):
            raise ValueError(f"invalid vendor daemon name {self.vendor!r} (1 to 10 of A-Z, a-z, 0-9, _)")
        if self.vendor_port is not None:
            _check_port(self.vendor_port, "the vendor port")


@functools.lru_cache(maxsize=4096)
def flexlm_date(date: datetime.date | None) -> str:
    """A date as the dialect writes it (``31-dec-2027``), ``permanent`` for None."""
    if date is None:
        return "permanent"
    return f"{date.day:02d}-{_MONTHS[date.month - 1]}-{date.year:04d}"


def _comment_line(text: str) -> str:
    return f"# {text}" if text else "#"


def license_render(
    document: LicenseDocument,
    *,
    private_key: Ed25519PrivateKey,
    sign_many: Callable[[Sequence[bytes]], Sequence[bytes]] | None = None,
) -> str:
    """Render `document` in the dialect, signing every INCREMENT line with `private_key`.

    `sign_many`, if given, returns the signatures of a list of messages (each what
    `private_key.sign` would return: Ed25519 is deterministic, so a caller may reuse
    signatures it made before). The result uses ``\n`` line endings, ends with a newline,
    and parses back with `license_parse` to the same servers, vendor and increments.
    """
    host_ids = tuple(server.host_id for server in document.servers)
    vendor_line = f"VENDOR {document.vendor}"
    if document.vendor_port is not None:
        vendor_line += f" PORT={document.vendor_port}"
    lines = [_comment_line(document.header)]
    lines += [f"SERVER {server.host} {server.host_id} {server.port}" for server in document.servers]
    lines += [vendor_line, "USE_SERVER"]
    rendered = []
    total = len(document.increments)
    for position, increment in enumerate(document.increments, start=1):
        serial = None if document.identity is None else document.identity.serial(position, total)
        attributes = increment.attributes(serial)
        message = signed_message(
            kind="INCREMENT",
            feature=increment.feature,
            vendor=document.vendor,
            version=increment.version,
            expiration=increment.expiration,
            count=increment.count,
            attributes=attributes,
            server_host_ids=host_ids,
        )
        rendered.append((increment, attributes, message))
    messages = [message for _, _, message in rendered]
    signatures = sign_many(messages) if sign_many is not None else [private_key.sign(m) for m in messages]
    for (increment, attributes, _), signature in zip(rendered, signatures, strict=True):
        lines += [
            _comment_line(increment.comment),
            f"INCREMENT {increment.feature} {document.vendor} {increment.version} "
            f"{flexlm_date(increment.expiration)} {increment.count} {_attributes_text(attributes)}",
            f'\tSIGN="{_format_signature(signature)}"',
        ]
    lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------------- verifying


@dataclass(frozen=True)
class LineFailure:
    """Why a line failed verification; `line` is 1-based, 0 for the file as a whole.

    `code` names the case (see the module docstring: ``signature``, ``repeated``, ``dropped``,
    ...; ``parse`` for a file that does not parse, ``empty`` for one without signed lines)
    and `params` the values its message uses, so a page can say it in the reader's language.
    """

    line: int
    reason: str
    code: str = dataclass_field(default="", compare=False)
    params: tuple[tuple[str, str | int], ...] = dataclass_field(default=(), compare=False)


@dataclass(frozen=True)
class VerifyResult:
    """Invariant: `valid` is true exactly when there are no failures. `identity` is the
    file's identity (customer, server, version) when a valid file carries one."""

    valid: bool
    failures: tuple[LineFailure, ...]
    identity: FileIdentity | None = dataclass_field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.valid == bool(self.failures):
            raise ValueError("a verification result is valid exactly when it has no failures")


@dataclass(frozen=True)
class _Checked:
    feature: ParsedFeature
    signed: bool  # the line's own signature verifies
    serial: tuple[FileIdentity, int, int] | None


def license_verify(text: str, *, public_key: Ed25519PublicKey) -> VerifyResult:
    """Check every INCREMENT/FEATURE line's SIGN= against `public_key`, then that the signed
    lines are exactly the lines of one issued file (SN=, see the module docstring).

    Invalid if the file does not parse, has no INCREMENT/FEATURE line, any such line lacks
    a valid signature, or the lines are not one file's lines each once and in order; one
    failure per failing line (and one for the file when lines were dropped).
    """
    try:
        parsed = license_parse(text)
    except LicenseParseError as error:
        return VerifyResult(False, (LineFailure(error.line, error.reason, "parse"),))
    if not parsed.features:
        return VerifyResult(False, (LineFailure(0, "no signed lines", "empty"),))
    host_ids = [server.host_id for server in parsed.servers]
    failures: dict[int, LineFailure] = {}
    checked = []
    for feature in parsed.features:
        sn = feature.attribute("SN")
        serial = _serial_parse(sn.value if sn is not None else None)
        checked.append(_Checked(feature, _signature_verifies(feature, host_ids, public_key, failures), serial))
    identity = _file_identity(checked)
    _check_identity(checked, identity, failures)
    ordered = sorted(failures.values(), key=lambda failure: failure.line)
    if ordered:
        return VerifyResult(False, tuple(ordered))
    return VerifyResult(True, (), identity)


def _signature_verifies(
    feature: ParsedFeature, host_ids: list[str], public_key: Ed25519PublicKey, failures: dict[int, LineFailure]
) -> bool:
    sign = feature.attribute("SIGN")
    if sign is None or sign.value is None:
        failures[feature.line] = LineFailure(feature.line, "no SIGN= signature", "unsigned")
        return False
    signature = _signature_from_text(sign.value)
    if signature is None:
        failures[feature.line] = LineFailure(
            feature.line, "malformed SIGN= signature (expected 64 bytes in hex)", "malformed"
        )
        return False
    message = signed_message(
        kind=feature.kind,
        feature=feature.name,
        vendor=feature.vendor,
        version=feature.version,
        expiration=feature.expiration_date,
        count=feature.count,
        attributes=feature.attributes,
        server_host_ids=host_ids,
    )
    try:
        public_key.verify(signature, message)
    except InvalidSignature:
        failures[feature.line] = LineFailure(feature.line, "signature does not match", "signature")
        return False
    return True


def _file_identity(checked: Sequence[_Checked]) -> FileIdentity | None:
    """The identity most correctly signed lines carry (the earliest on a tie). Only signed
    serial numbers count: an unsigned one could claim any line count (and make the check
    of dropped lines walk a billion positions)."""
    files = [(c.serial[0], c.serial[2]) for c in checked if c.signed and c.serial is not None]
    if not files:
        return None
    counts = Counter(files)
    best = max(counts.values())
    return next(identity for identity, _ in files if counts[(identity, _)] == best)


def _check_identity(
    checked: Sequence[_Checked], identity: FileIdentity | None, failures: dict[int, LineFailure]
) -> None:
    """Add a failure for every line that is not in its place in the file `identity`."""
    if identity is None:
        failures.update({c.feature.line: _no_identity(c.feature.line) for c in checked if c.signed})
        return
    total = next(c.serial[2] for c in checked if c.signed and c.serial is not None and c.serial[0] == identity)
    own: list[tuple[int, int]] = []  # (line, position) of this file's correctly signed lines
    claimed: set[int] = set()
    for c in checked:
        failure = _identity_failure(c, identity, total)
        if failure is not None:
            failures[c.feature.line] = failure
        elif c.serial is not None and (c.serial[0], c.serial[2]) == (identity, total):
            claimed.add(c.serial[1])
            if c.signed:
                own.append((c.feature.line, c.serial[1]))
    _check_order(own, total, failures)
    _check_dropped(claimed, total, failures)


def _check_dropped(claimed: set[int], total: int, failures: dict[int, LineFailure]) -> None:
    missing = [position for position in range(1, total + 1) if position not in claimed]
    if missing:
        shown = ", ".join(str(position) for position in missing[:10]) + (", …" if len(missing) > 10 else "")
        failures[0] = LineFailure(
            0,
            f"signed line(s) {shown} of {total} missing: lines were dropped from this file",
            "dropped",
            (("missing", shown), ("total", total)),
        )


def _identity_failure(c: _Checked, identity: FileIdentity, total: int) -> LineFailure | None:
    """Why a line does not belong to the file `identity` (None if it claims to)."""
    line = c.feature.line
    if c.serial is None:
        return _no_identity(line) if c.signed else None
    other, _, count = c.serial
    # An unsigned line claiming this very file (with another count) keeps its signature
    # failure: only a line naming another file is said to come from one.
    if (other != identity or count != total) and (c.signed or other != identity):
        return _foreign_line(line, other, identity, signed=c.signed)
    return None


def _check_order(own: Sequence[tuple[int, int]], total: int, failures: dict[int, LineFailure]) -> None:
    """Each position once, increasing, among the file's own correctly signed lines."""
    seen: dict[int, int] = {}  # position -> line of its first occurrence
    last_position, last_line = 0, 0
    for line, position in own:
        if position in seen:
            failures[line] = LineFailure(
                line,
                f"repeats line {seen[position]} (signed line {position} of {total}): FlexLM would add its count again",
                "repeated",
                (("first", seen[position]), ("position", position), ("total", total)),
            )
            continue
        seen[position] = line
        if position < last_position:
            failures[line] = LineFailure(
                line,
                f"out of order: signed line {position} of {total} comes after signed line {last_position} "
                f"(line {last_line})",
                "reordered",
                (("position", position), ("total", total), ("after", last_position), ("after_line", last_line)),
            )
        else:
            last_position, last_line = position, line


def _no_identity(line: int) -> LineFailure:
    return LineFailure(
        line,
        "no file identity (SN=): the line may have been copied from any file; download the current "
        "version of the server's license file",
        "no_identity",
    )


def _foreign_line(line: int, other: FileIdentity, identity: FileIdentity, *, signed: bool) -> LineFailure:
    unsigned = "" if signed else " (and its signature does not match this file's SERVER host IDs)"
    if (other.customer, other.server) != (identity.customer, identity.server):
        return LineFailure(
            line,
            f"taken from another license server's file (customer {other.customer}, server {other.server}, "
            f"version {other.version}){unsigned}",
            "other_server",
            (("customer", other.customer), ("server", other.server), ("version", other.version)),
        )
    return LineFailure(
        line,
        f"taken from version {other.version} of this server's file (the file is version {identity.version}){unsigned}",
        "other_version",
        (("version", other.version), ("file_version", identity.version)),
    )


def license_diff(old: str, new: str, *, old_name: str = "old", new_name: str = "new") -> list[str]:
    """Unified diff of two license file versions, one string per line without newlines."""
    return list(
        difflib.unified_diff(old.splitlines(), new.splitlines(), fromfile=old_name, tofile=new_name, lineterm="")
    )


# --------------------------------------------------------------------------- keys


def load_private_key(path: pathlib.Path) -> Ed25519PrivateKey:
    """Load the Ed25519 private key (PEM) at `path`; never creates one. Raises OSError
    (FileNotFoundError if missing) or ValueError."""
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} does not hold an Ed25519 private key")
    return key


def private_key_load_or_create(path: pathlib.Path) -> Ed25519PrivateKey:
    """Load the Ed25519 signing key (PEM, PKCS8) at `path`, creating it if missing.

    A new key is written to a temporary file (mode 0600) in the same directory and then
    hard-linked into place; linking fails if the file appeared meanwhile, so processes
    starting at once all end up using the one key that won.
    """
    try:
        return load_private_key(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(pem)
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return load_private_key(path)
    finally:
        os.unlink(temporary)
    return key


def public_key_pem(private_key: Ed25519PrivateKey) -> str:
    """The public half of `private_key` as a PEM SubjectPublicKeyInfo block."""
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


def public_key_from_pem(data: bytes) -> Ed25519PublicKey:
    """Load a PEM public key; raises ValueError unless it is an Ed25519 key."""
    key = serialization.load_pem_public_key(data)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key
