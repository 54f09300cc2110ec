"""CSV exports that spreadsheets open safely, and bounded.

Every export writes its cells through ``csv_safe`` and its rows through ``csv_response``:
one helper neutralises formulas, one caps the rows (``EXPORT_MAX_ROWS``).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator, Sequence

from django.http import StreamingHttpResponse
from django.utils.translation import gettext as _

# A cell starting with one of these is run as a formula by Excel / LibreOffice (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# Joined values ("a; b") are split into cells again by spreadsheets that use ";" as the list or
# field separator (Turkish and German Excel open a CSV that way) and by "text to columns": each
# part is guarded like a cell. Leading spaces and quotes of a part are kept; one more quote goes
# before them, so that ``csv_unsafe`` can always give the original back.
_PART_SAFE = re.compile(r"(^|;)( *)('*)(?=[=+\-@\t\r])")
_PART_UNSAFE = re.compile(r"(^|;)( *)'('*)(?=[=+\-@\t\r])")
JOIN = "; "

# The most rows one export writes; the last line says when a file was cut there (docs/security.md).
EXPORT_MAX_ROWS = 100_000


def csv_safe(value: object) -> str:
    """A cell that a spreadsheet shows as text: the cell and every ``;``-joined part of it that
    starts like a formula get a leading quote. A list or tuple is joined with ``"; "`` first."""
    if value is None:
        return ""
    text = JOIN.join(map(str, value)) if isinstance(value, list | tuple) else str(value)
    return _PART_SAFE.sub(r"\1\2'\3", text)


def csv_unsafe(text: str) -> str:
    """The value a ``csv_safe`` cell stands for, so that an exported file imports unchanged."""
    return _PART_UNSAFE.sub(r"\1\2\3", text)


class _Echo:
    """A file-like object for csv.writer that hands each row back instead of storing it."""

    def write(self, value: str) -> str:
        return value


def csv_response(
    filename: str,
    header: Sequence[object],
    rows: Iterable[Sequence[object]],
    *,
    max_rows: int | None = None,
    bom: bool = True,
) -> StreamingHttpResponse:
    """A streamed CSV download (UTF-8, with a BOM unless ``bom=False``; every cell through ``csv_safe``) of at most
    ``max_rows`` rows (``EXPORT_MAX_ROWS``); when there were more, a last line says so,
    so a cut file is never mistaken for a whole one."""
    limit = EXPORT_MAX_ROWS if max_rows is None else max_rows
    writer = csv.writer(_Echo())

    def stream() -> Iterator[str]:
        if bom:
            yield "\ufeff"  # so spreadsheet programs read UTF-8
        yield writer.writerow([csv_safe(cell) for cell in header])
        for number, row in enumerate(rows):
            if number == limit:
                yield writer.writerow([csv_safe(_("Only the first %(count)d rows are exported: narrow the filter.")
                                               % {"count": limit})])
                return
            yield writer.writerow([csv_safe(cell) for cell in row])

    response = StreamingHttpResponse(stream(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response
