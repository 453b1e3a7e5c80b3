"""A titled table of formatted cells, rendered as aligned text, Markdown or HTML alike."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

# A cell that reads as a number (with an optional unit or sign) is right-aligned; text is left-aligned.
_NUMBER = re.compile(r"^[+\-−]?(?:[\d,]+(?:\.\d+)?|∞|—)(?:\s?(?:×(?:\s(?:faster|slower))?|%|ms|dB))?$")


@dataclass(frozen=True)
class Table:
    """A titled table of already-formatted cells."""

    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


def is_number(cell: str) -> bool:
    """Whether a formatted cell reads as a number (and so is right-aligned)."""
    return bool(_NUMBER.match(str(cell).strip()))


def text_table(table: Table, indent: str = "  ") -> str:
    """The table as aligned plain text for a terminal: title, header, rows."""
    cells = [table.headers, *table.rows]
    widths = [max(len(str(row[i])) for row in cells) for i in range(len(table.headers))]

    numeric = [bool(table.rows) and i > 0 and all(is_number(str(r[i])) for r in table.rows)
               for i in range(len(table.headers))]

    def line(row, header=False) -> str:
        parts = [str(c).rjust(w) if i and (numeric[i] if header else is_number(str(c))) else str(c).ljust(w)
                 for i, (c, w) in enumerate(zip(row, widths))]
        return (indent + "  ".join(parts)).rstrip()

    return "\n".join([table.title, line(table.headers, header=True), *(line(r) for r in table.rows)])


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_table(table: Table) -> list[str]:
    """Markdown lines: a level-2 heading, the header row, the alignment row and the rows."""
    align = ["---:" if table.rows and i and all(is_number(r[i]) for r in table.rows) else "---"
             for i in range(len(table.headers))]
    lines = [f"## {table.title}", "", "| " + " | ".join(table.headers) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in table.rows]
    return lines + [""]


def _cell_class(column: int, cell: str) -> str:
    # Numbers right-aligned; long text (reasons, lists of rows) wraps; everything else stays on one line.
    return "n" if column and is_number(cell) else "long" if len(cell) > 60 else "t"


def html_table(table: Table, heading: str = "h2") -> str:
    """An HTML heading and table; numeric cells carry class 'n' (right-aligned), text stays left ('t', 'long')."""
    esc = html.escape
    out = [f"<{heading}>{esc(table.title)}</{heading}><div class='scroll'><table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in table.headers)
           + "</tr>"]
    for row in table.rows:
        out.append("<tr>" + "".join(f"<td class='{_cell_class(i, str(c))}'>{esc(str(c))}</td>"
                                    for i, c in enumerate(row)) + "</tr>")
    out.append("</table></div>")
    return "\n".join(out)
