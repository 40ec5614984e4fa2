"""An HTML page read back for assertions (standard library's HTMLParser): its elements, the text of each element
with an id, and every table's rows as cell texts, so a test checks what a reader sees, cell by cell."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"})


@dataclass
class Table:
    css_class: str
    section: str | None  # the id of the nearest enclosing element that has one
    rows: list[list[str]] = field(default_factory=list)


class Page(HTMLParser):
    """`Page(text)`: `elements` (tag, attributes) in document order, `text_of[id]`, `tables`."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text_of: dict[str, str] = {}
        self.tables: list[Table] = []
        self._open: list[tuple[str, str | None]] = []  # (tag, id)
        self._cell: list[str] | None = None
        self.feed(text)
        self.close()

    # -- parsing
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.elements.append((tag, attributes))
        if self._cell is not None:
            self._cell.append(" ")  # an element inside a cell separates words
        if tag in VOID:
            return
        element_id = attributes.get("id")
        self._open.append((tag, element_id))
        if element_id:
            self.text_of[element_id] = ""
        if tag == "table":
            self.tables.append(Table(attributes.get("class") or "", self._section()))
        elif tag == "tr" and self.tables:
            self.tables[-1].rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if self._cell is not None and tag not in ("td", "th"):
            self._cell.append(" ")
        if tag in ("td", "th") and self._cell is not None and self.tables and self.tables[-1].rows:
            self.tables[-1].rows[-1].append(_squeeze("".join(self._cell)))
            self._cell = None
        while self._open:
            open_tag, _ = self._open.pop()
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        for _, element_id in self._open:
            if element_id:
                self.text_of[element_id] += data
        if self._cell is not None:
            self._cell.append(data)

    def _section(self) -> str | None:
        return next((element_id for _, element_id in reversed(self._open) if element_id), None)

    # -- reading
    def tags(self, name: str) -> list[dict[str, str | None]]:
        return [attrs for tag, attrs in self.elements if tag == name]

    def text(self, element_id: str) -> str:
        return _squeeze(self.text_of[element_id])

    def rows(self, section: str, css_class: str) -> list[list[str]]:
        """The body rows (header rows left out) of the tables of class `css_class` in `section`."""
        return [
            row
            for table in self.tables
            if table.section == section and css_class in table.css_class.split()
            for row in table.rows[(0 if "facts" in table.css_class.split() else 1) :]
        ]

    def facts(self, section: str, css_class: str = "facts") -> dict[str, str]:
        """A two-column table of `section` as {label: value} (the first such table of that class)."""
        table = next(t for t in self.tables if t.section == section and css_class in t.css_class.split())
        return {row[0]: row[1] for row in table.rows if len(row) == 2}


def _squeeze(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()
