"""``python manage.py verify_license FILE``: exit 0 and "valid" when every signed line of
the file verifies against the portal's public key and the lines are exactly those of the
server's current file version.

Exit codes: 1 with the failing line(s) and why (signature, repeated, dropped, reordered,
other version, other server: ``licensefile.license_verify``); 2 when the file or the key
cannot be read; 3 "superseded by version N" when the file is authentic but the portal has
issued a newer version for that server.

The key is ``LICENSE_PUBLIC_KEY_FILE`` or the public half of an existing
``LICENSE_SIGNING_KEY_FILE``; this command never creates a key (``signing.verifying_key``).
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from activations.licensefile import license_verify
from activations.models import EMERGENCY_LICENSE_MAX_DAYS
from activations.selectors import license_file_standing
from activations.signing import VerifyingKeyUnavailable, verifying_key

EXIT_INVALID = 1
EXIT_UNREADABLE = 2
EXIT_SUPERSEDED = 3


class Command(BaseCommand):
    help = "Verify the signatures of a license file against the portal's public key."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the license file ('-' is not accepted)")

    def handle(self, *args: object, **options: object) -> None:
        path = Path(str(options["file"]))
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except (OSError, UnicodeDecodeError) as error:
            raise CommandError(f"cannot read {path}: {error}", returncode=EXIT_UNREADABLE) from None
        try:
            public_key = verifying_key()
        except VerifyingKeyUnavailable as error:
            raise CommandError(f"cannot verify: {error}", returncode=EXIT_UNREADABLE) from None
        result = license_verify(text, public_key=public_key)
        if not result.valid:
            for failure in result.failures:
                where = f"line {failure.line}" if failure.line else "file"
                self.stderr.write(f"invalid: {where}: {failure.reason}")
            raise CommandError("license file does not verify", returncode=EXIT_INVALID)
        identity = result.identity
        assert identity is not None  # a valid file carries its identity
        try:
            standing = license_file_standing(identity=identity)
        except DatabaseError as error:
            self.stderr.write(f"signatures valid; whether this is the current version was not checked: {error}")
            self.stdout.write("valid")
            return
        if standing.superseded:
            self.stdout.write(
                f"superseded by version {standing.latest_version} (this file is version {identity.version} "
                f"of license server {identity.server} of customer {identity.customer})"
            )
            raise CommandError("license file is not the current version", returncode=EXIT_SUPERSEDED)
        if standing.emergency and standing.known:
            self.stdout.write(
                f"emergency license file (temporary) of license server {identity.server} of customer "
                f"{identity.customer}: its lines expire within {EMERGENCY_LICENSE_MAX_DAYS} days of issue"
            )
        elif not standing.known:
            self.stderr.write(
                f"signatures valid, but this portal has no record of version {identity.version} of license "
                f"server {identity.server} of customer {identity.customer}"
            )
        self.stdout.write("valid")
