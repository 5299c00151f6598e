"""A table as a file people open elsewhere: CSV for any tool, XLSX for a spreadsheet with
typed cells (numbers stay numbers, money is formatted in pounds)."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal

from pathways_reporting.tables import TableData

POUNDS_FORMAT = '"£"#,##0.00'


def to_csv(table: TableData) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow(["" if v is None else v for v in row])
    return out.getvalue()


def to_xlsx(table: TableData) -> bytes:
    # Imported here: openpyxl takes most of a second to import, and only this needs it.
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheet = book.active
    assert sheet is not None  # a new workbook always has one sheet
    sheet.title = re.sub(r"[\[\]:*?/\\]", " ", table.title)[:31]  # what Excel allows in a sheet name
    sheet.append(table.columns)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in table.rows:
        # Excel has no decimal type: money becomes a float cell, exact to the penny.
        sheet.append([float(v) if isinstance(v, Decimal) else v for v in row])
    for index, name in enumerate(table.columns, start=1):
        letter = get_column_letter(index)
        if name.endswith("_gbp"):
            for cell in sheet[letter][1:]:
                cell.number_format = POUNDS_FORMAT
        width = max([len(name), *(len(str(r[index - 1])) for r in table.rows[:500])])
        sheet.column_dimensions[letter].width = min(width + 2, 60)
    sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
