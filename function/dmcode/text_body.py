"""The text body derived from an HTML email, for templates written without `text`.

Kept apart from render.py because it needs the standard library's HTML parser, which
only such templates use: the built-in set carries its own text bodies, so a default
deployment never imports it.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_SKIP = frozenset({"script", "style", "head", "title", "template"})
# HTML's block-level (flow) elements, and those that lay out as blocks in mail
# clients (`center`, table rows, captions): each starts and ends a line.
_LINE = frozenset(
    {
        "address", "article", "aside", "caption", "center", "dd", "details", "dialog",
        "div", "dt", "fieldset", "figcaption", "figure", "footer", "form", "header",
        "hgroup", "legend", "li", "main", "menu", "nav", "section", "summary", "tr",
    }
)  # fmt: skip
_PARAGRAPH = frozenset(
    {"p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "dl", "blockquote", "hr", "pre"}
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
        if tag == "br":
            if opening:
                # Each <br> ends a line: two in a row leave a blank one.
                self.pending = min(self.pending + 1, 2)
        elif tag in _PARAGRAPH:
            self.pending = 2
        elif tag in _LINE:
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


def html_to_text(source: str, standalone: str | None = None) -> str:
    """A readable plain-text version of an HTML email.

    Tags are dropped, every block-level element starts a line (HTML's list), each
    `<br>` ends one, links keep their address as `text (url)` (an unclosed `<a>`
    too), entities are decoded, and at most one blank line is kept in a row. Where
    `standalone` (the code) appears as a word, it is put on a line of its own, so a
    reader or a mail client's code detection finds it whole.
    """
    parser = _TextParser()
    parser.feed(source)
    parser.close()
    while parser.links:
        parser._close_link()
    lines = [" ".join(line.split()) for line in "".join(parser.chunks).split(_BREAK)]
    if standalone and standalone.strip():
        lines = [part for line in lines for part in _set_apart(line, standalone.strip())]
    kept: list[str] = []
    for line in lines:
        if line or (kept and kept[-1]):
            kept.append(line)
    return "\n".join(kept).strip()


# Punctuation that belongs to the code's sentence, not to the text beside it.
_OPENERS = "([{\"'\u201c\u2018\uff08\u300c\u3010:\uff1a"
_CLOSERS = ")]}\"'\u201d\u2019\uff09\u300d\u3011.,;:!?\u3002\uff0c\uff1b\uff1a\uff01\uff1f"


def _set_apart(line: str, code: str) -> list[str]:
    """`line` split so that each whole-word occurrence of `code` is a line of its own.

    An occurrence inside a longer word or number, or inside a URL (a link that
    carries the code), stays where it is.
    """
    pattern = re.compile(r"(?<![A-Za-z0-9])" + re.escape(code) + r"(?![A-Za-z0-9])")
    parts: list[str] = []
    rest = line
    while True:
        found = next((m for m in pattern.finditer(rest) if not _in_url(rest, m.start())), None)
        if found is None:
            break
        before = rest[: found.start()].rstrip()
        if before.rstrip(_OPENERS + " "):
            parts.append(before)
        parts.append(code)
        rest = rest[found.end() :].lstrip(_CLOSERS + " ")
    if rest or not parts:
        parts.append(rest)
    return parts


def _in_url(line: str, position: int) -> bool:
    start = line.rfind(" ", 0, position) + 1
    word = line[start:].split(" ", 1)[0]
    return "://" in word or "@" in word
