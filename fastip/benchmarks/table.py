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
    """Whether a formatted cell reads as a number, possibly with a unit ('4.86× faster', '31.2 dB', '—')."""
    return bool(_NUMBER.match(str(cell).strip()))


def numeric_columns(table: Table) -> list[bool]:
    """Per column: right-align it (every cell a number or a dash, at least one a number; never the first column)."""
    out = []
    for i in range(len(table.headers)):
        cells = [str(row[i]).strip() for row in table.rows]
        out.append(i > 0 and any(c != "—" for c in cells) and all(is_number(c) for c in cells))
    return out


def text_table(table: Table, indent: str = "  ") -> str:
    """The table as aligned plain text for a terminal: title, header, rows."""
    cells = [table.headers, *table.rows]
    widths = [max(len(str(row[i])) for row in cells) for i in range(len(table.headers))]
    numeric = numeric_columns(table)

    def line(row) -> str:
        parts = [str(c).rjust(w) if numeric[i] else str(c).ljust(w) for i, (c, w) in enumerate(zip(row, widths))]
        return (indent + "  ".join(parts)).rstrip()

    return "\n".join([table.title, line(table.headers), *(line(r) for r in table.rows)])


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_table(table: Table) -> list[str]:
    """Markdown lines: a level-2 heading, the header row, the alignment row and the rows."""
    align = ["---:" if right else "---" for right in numeric_columns(table)]
    lines = [f"## {table.title}", "", "| " + " | ".join(table.headers) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in table.rows]
    return lines + [""]


def _cell_class(numeric: bool, cell: str) -> str:
    # Numbers right-aligned; long text (reasons, lists of rows) wraps; everything else stays on one line.
    return "n" if numeric else "long" if len(cell) > 60 else "t"


def html_table(table: Table, heading: str = "h2") -> str:
    """An HTML heading and table; numeric cells carry class 'n' (right-aligned), text stays left ('t', 'long')."""
    esc = html.escape
    out = [f"<{heading}>{esc(table.title)}</{heading}><div class='scroll'><table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in table.headers)
           + "</tr>"]
    numeric = numeric_columns(table)
    for row in table.rows:
        out.append("<tr>" + "".join(f"<td class='{_cell_class(numeric[i], str(c))}'>{esc(str(c))}</td>"
                                    for i, c in enumerate(row)) + "</tr>")
    out.append("</table></div>")
    return "\n".join(out)
