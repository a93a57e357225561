"""The text body derived from an HTML email, for templates written without `text`.

Kept apart from render.py because it needs the standard library's HTML parser, which
only such templates use: the built-in set carries its own text bodies, so a default
deployment never imports it.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_SKIP = frozenset({"script", "style", "head", "title", "template"})
_LINE = frozenset({"br", "div", "tr", "li"})
_PARAGRAPH = frozenset(
    {"p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "blockquote", "hr"}
)
_CELL = frozenset({"td", "th"})
_BREAK = "\n"
_SPACES = re.compile(r"\s+")


class _TextParser(HTMLParser):
    """Collects the readable text of an HTML document, with line breaks for blocks.

    Blocks ask for a break rather than write one, so nested blocks (a layout of tables
    and divs) give one line break, not a stack of blank lines.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self.pending = 0
        self.skipping: list[str] = []
        self.links: list[tuple[int, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            # An unclosed <head> must not swallow the whole body.
            self.skipping.clear()
        if tag in _SKIP:
            self.skipping.append(tag)
        elif self.skipping:
            return
        elif tag == "a":
            self._flush()
            self.links.append((len(self.chunks), dict(attrs).get("href") or ""))
        else:
            self._block(tag, opening=True)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if not self.skipping and tag != "a":
            self._block(tag, opening=True)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            if tag in self.skipping:
                del self.skipping[self.skipping.index(tag) :]
        elif self.skipping:
            return
        elif tag == "a" and self.links:
            self._close_link()
        else:
            self._block(tag, opening=False)

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        # Source line breaks are layout, not content: only block tags make lines.
        text = _SPACES.sub(" ", data)
        if self.pending:
            text = text.lstrip()
            if not text:
                return
            self._flush()
        self.chunks.append(text)

    def _flush(self) -> None:
        if self.chunks:
            self.chunks.append(_BREAK * self.pending)
        self.pending = 0

    def _block(self, tag: str, *, opening: bool) -> None:
        if tag in _PARAGRAPH:
            self.pending = 2
        elif tag in _LINE and (opening or tag != "br"):
            self.pending = max(self.pending, 1)
            if tag == "li" and opening:
                self._flush()
                self.chunks.append("- ")
        elif tag in _CELL and not opening:
            self.chunks.append(" ")

    def _close_link(self) -> None:
        start, href = self.links.pop()
        text = " ".join("".join(self.chunks[start:]).split())
        href = href.strip()
        del self.chunks[start:]
        if not href or href.startswith("#") or text in (href, href.removeprefix("mailto:")):
            self.chunks.append(text)
        elif not text:
            self.chunks.append(href)
        else:
            self.chunks.append(f"{text} ({href})")


def html_to_text(source: str) -> str:
    """A readable plain-text version of an HTML email.

    Tags are dropped, blocks become line breaks, links keep their address as
    `text (url)`, entities are decoded, and at most one blank line is kept in a row.
    """
    parser = _TextParser()
    parser.feed(source)
    parser.close()
    lines = [" ".join(line.split()) for line in "".join(parser.chunks).split(_BREAK)]
    kept: list[str] = []
    for line in lines:
        if line or (kept and kept[-1]):
            kept.append(line)
    return "\n".join(kept).strip()
