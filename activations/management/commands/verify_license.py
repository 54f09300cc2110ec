"""``python manage.py verify_license FILE``: exit 0 and "valid" when every signed line of
the file verifies against the portal's public key; exit 1 with the failing line(s)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from activations.licensefile import license_verify
from activations.signing import verifying_key


class Command(BaseCommand):
    help = "Verify the signatures of a license file against the portal's public key."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the license file ('-' is not accepted)")

    def handle(self, *args: object, **options: object) -> None:
        path = Path(str(options["file"]))
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except (OSError, UnicodeDecodeError) as error:
            raise CommandError(f"cannot read {path}: {error}", returncode=2) from None
        result = license_verify(text, public_key=verifying_key())
        if result.valid:
            self.stdout.write("valid")
            return
        for failure in result.failures:
            where = f"line {failure.line}" if failure.line else "file"
            self.stderr.write(f"invalid: {where}: {failure.reason}")
        raise CommandError("license file does not verify", returncode=1)
