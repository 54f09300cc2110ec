"""CSV in and out, one way for every importer and export.

Out: ``csv_response`` streams a download that spreadsheets open safely: UTF-8 with a BOM
(so Excel reads the accents of the Turkish labels and names) and every cell through
``csv_safe`` (CSV injection). In: ``csv_line_fields`` reads one pasted line (``,`` / ``;`` /
tab, as spreadsheets copy), ``csv_table_read`` reads a file with a header row into rows by
column name, refusing what cannot be imported with a ``PortalError``.

Every export is bounded: at most ``EXPORT_MAX_ROWS`` rows, then a line saying the file was cut.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from django.http import StreamingHttpResponse
from django.utils.translation import gettext as _

from portal.errors import PortalError

# A cell starting with one of these is run as a formula by Excel / LibreOffice (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"
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


# --- Out --------------------------------------------------------------------------------------


class _Echo:
    """A file-like object for csv.writer that hands each row back instead of storing it."""

    def write(self, value: str) -> str:
        return value


def csv_response(
    filename: str, header: Sequence[object], rows: Iterable[Sequence[object]], *, max_rows: int | None = None
) -> StreamingHttpResponse:
    """A CSV download streamed row by row (``rows`` may be a generator over ``.iterator()``), of
    at most ``max_rows`` rows (``EXPORT_MAX_ROWS``); when there were more, a last line says so,
    so a cut file is never mistaken for a whole one."""
    limit = EXPORT_MAX_ROWS if max_rows is None else max_rows
    writer = csv.writer(_Echo())

    def stream() -> Iterator[str]:
        yield BOM
        yield writer.writerow([csv_safe(cell) for cell in header])
        for number, row in enumerate(rows):
            if number == limit:
                note = _("Only the first %(count)d rows are exported: narrow the filter.") % {"count": limit}
                yield writer.writerow([csv_safe(note)])
                return
            yield writer.writerow([csv_safe(cell) for cell in row])

    response = StreamingHttpResponse(stream(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


# --- In ---------------------------------------------------------------------------------------


def csv_line_fields(line: str) -> list[str]:
    """The fields of one pasted line, separated by ``,``, ``;`` or a tab (the first of those
    the line holds). Raises ``csv.Error`` when the line is not CSV."""
    delimiter = next((d for d in (",", ";", "\t") if d in line), ",")
    try:
        return next(csv.reader([line], delimiter=delimiter))
    except StopIteration:
        raise csv.Error("empty line") from None


@dataclass(frozen=True)
class CsvTable:
    header: list[str]  # the column names, stripped and lower-case
    rows: list[tuple[int, dict[str, str]]]  # (line number, stripped cell by column name); blank rows skipped


def csv_table_read(text: str, *, required: Sequence[str], expected: Sequence[str], max_rows: int) -> CsvTable:
    """A CSV file with a header row, read whole or refused with a ``PortalError``: not text
    (a NUL, which PostgreSQL text cannot hold either), not CSV (e.g. a field over
    ``csv.field_size_limit()``), a ``required`` column missing (the message lists
    ``expected``), or more than ``max_rows`` rows. A leading BOM is dropped."""
    if "\x00" in text:
        raise PortalError(_("This is not a text file."))
    reader = csv.reader(io.StringIO(text.lstrip(BOM)))
    try:
        header = [column.strip().lower() for column in next(reader, [])]
        missing = [column for column in required if column not in header]
        if missing:
            raise PortalError(
                _("The CSV header lacks the column(s): %(columns)s. Expected: %(expected)s.")
                % {"columns": ", ".join(missing), "expected": ",".join(expected)}
            )
        rows: list[tuple[int, dict[str, str]]] = []
        for number, cells in enumerate(reader, start=2):
            if not any(cell.strip() for cell in cells):
                continue
            rows.append((number, {name: cell.strip() for name, cell in zip(header, cells, strict=False)}))
            if len(rows) > max_rows:
                raise PortalError(_("At most %(max)s lines can be imported at once.") % {"max": max_rows})
    except csv.Error as error:
        raise PortalError(_("The file is not valid CSV: %(error)s") % {"error": error}) from None
    return CsvTable(header=header, rows=rows)
