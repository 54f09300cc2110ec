"""CSV in and out, one way for every importer and export.

Out: ``csv_response`` streams a download that spreadsheets open safely: UTF-8 with a BOM
(so Excel reads the accents of the Turkish labels and names) and every cell through
``csv_safe`` (CSV injection). In: ``csv_line_fields`` reads one pasted line (``,`` / ``;`` /
tab, as spreadsheets copy), ``csv_table_read`` reads a file with a header row into rows by
column name, refusing what cannot be imported with a ``PortalError``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from django.http import StreamingHttpResponse
from django.utils.translation import gettext as _

from portal.errors import PortalError

# A cell starting with one of these is run as a formula by Excel / LibreOffice (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"


def csv_safe(value: object) -> str:
    """A cell that a spreadsheet shows as text: formula-like values get a leading quote."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def csv_unsafe(text: str) -> str:
    """The value a ``csv_safe`` cell stands for, so that an exported file imports unchanged."""
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_PREFIXES) else text


# --- Out --------------------------------------------------------------------------------------


class _Echo:
    """A file-like object for csv.writer that hands each row back instead of storing it."""

    def write(self, value: str) -> str:
        return value


def csv_response(filename: str, header: Sequence[object], rows: Iterable[Sequence[object]]) -> StreamingHttpResponse:
    """A CSV download streamed row by row (``rows`` may be a generator over ``.iterator()``)."""
    writer = csv.writer(_Echo())

    def stream() -> Iterator[str]:
        yield BOM
        yield writer.writerow([csv_safe(cell) for cell in header])
        for row in rows:
            yield writer.writerow([csv_safe(cell) for cell in row])

    response = StreamingHttpResponse(stream(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
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
