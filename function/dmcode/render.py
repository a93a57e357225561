"""Placeholder substitution for email templates, and the HTML-to-text fallback.

The template language is only `{{ name }}` / `{{ a.b }}` substitution, done with one
compiled regex rather than Jinja: importing a template engine would add to every cold
start on Function Compute, and templates come from operators, so they should carry no
logic at all (Logto's own DirectMail connector only replaces `{{code}}`). A template is
split once into literal text and placeholder paths, so a render is a join, and a value
is never scanned again: a payload value holding `{{code}}` stays literal text.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from html.parser import HTMLParser

MAX_SUBJECT = 256

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*\}\}")

# Characters that would break the one-line mail header a subject ends up in.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")

KeyPath = tuple[str, ...]


@dataclass(frozen=True)
class Compiled:
    """A template split into literal strings and placeholder paths, in order."""

    parts: tuple[str | KeyPath, ...]

    @property
    def paths(self) -> tuple[KeyPath, ...]:
        return tuple(part for part in self.parts if isinstance(part, tuple))


def parse(source: str) -> Compiled:
    """Splits `source` once, so rendering never runs the regex again."""
    parts: list[str | KeyPath] = []
    position = 0
    for match in PLACEHOLDER.finditer(source):
        if match.start() > position:
            parts.append(source[position : match.start()])
        parts.append(tuple(match.group(1).split(".")))
        position = match.end()
    if position < len(source):
        parts.append(source[position:])
    return Compiled(tuple(parts))


def lookup(payload: Mapping[str, object], path: KeyPath) -> object:
    """The value at a dotted path, or None when any step is missing or not a mapping."""
    value: object = payload
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def scalar(value: object) -> str:
    """Text for one value: strings and numbers as written, bools as JSON spells them.

    None, objects and lists render empty, so a template cannot dump a structure.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    return ""


def _render(
    template: Compiled, payload: Mapping[str, object], convert: Callable[[str], str]
) -> str:
    return "".join(
        part if isinstance(part, str) else convert(scalar(lookup(payload, part)))
        for part in template.parts
    )


def _escape(value: str) -> str:
    return html.escape(value, quote=True)


def _raw(value: str) -> str:
    return value


def _one_line(value: str) -> str:
    return CONTROL.sub(" ", value)


def render_html(template: Compiled, payload: Mapping[str, object]) -> str:
    """HTML with every value escaped, in text and in attributes alike."""
    return _render(template, payload, _escape)


def render_text(template: Compiled, payload: Mapping[str, object]) -> str:
    """A plain-text body: values as they are, since nothing interprets markup there."""
    return _render(template, payload, _raw)


def render_subject(template: Compiled, payload: Mapping[str, object]) -> str:
    """One header line: control characters in values become spaces, length is capped."""
    return _render(template, payload, _one_line).strip()[:MAX_SUBJECT].rstrip()


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
