"""Placeholder substitution for email templates (the HTML-to-text fallback for
templates without a text body is in text_body.py, imported only when one needs it).

The template language is only `{{ name }}` / `{{ a.b }}` substitution, done with one
compiled regex rather than Jinja: importing a template engine would add to every cold
start on Function Compute, and templates come from operators, so they should carry no
logic at all (Logto's own DirectMail connector only replaces `{{code}}`). A template is
split once into literal text and placeholder paths, so a render is a join, and a value
is never scanned again: a payload value holding `{{code}}` stays literal text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

MAX_SUBJECT = 256

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*\}\}")

# Characters that would break the one-line mail header a subject ends up in.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Controls no mail body needs: C0 but tab and line feed (a CR of CRLF goes, its LF
# stays), DEL and C1. NUL and ESC reached bodies, where ESC starts terminal escapes in
# text-mode readers.
BODY_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Bidirectional formatting (Unicode UAX #9: the ALM, LRM and RLM marks, embeddings,
# overrides, isolates): in a subject a value could reorder what the reader sees around
# it, as U+202E (right-to-left override) does in phishing. Bodies keep them, since
# right-to-left names may need isolates, and the subject line is what inbox lists show.
BIDI = re.compile(r"[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")

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
    # What html.escape(value, quote=True) does, without importing the html package and
    # its table of two thousand entities into every cold start.
    return (
        BODY_CONTROL.sub("", value)
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#x27;")
    )


def _plain(value: str) -> str:
    return BODY_CONTROL.sub("", value)


def _one_line(value: str) -> str:
    return CONTROL.sub(" ", BIDI.sub("", value))


def render_html(template: Compiled, payload: Mapping[str, object]) -> str:
    """HTML with every value escaped, in text and in attributes alike, and stripped of
    the controls in BODY_CONTROL."""
    return _render(template, payload, _escape)


def render_text(template: Compiled, payload: Mapping[str, object]) -> str:
    """A plain-text body: values unescaped, since nothing interprets markup there, but
    stripped of the controls in BODY_CONTROL."""
    return _render(template, payload, _plain)


def render_subject(template: Compiled, payload: Mapping[str, object]) -> str:
    """One header line: control characters in values become spaces, bidirectional
    formatting characters go, length is capped."""
    return _render(template, payload, _one_line).strip()[:MAX_SUBJECT].rstrip()


def html_to_text(source: str, standalone: str | None = None) -> str:
    """A readable plain-text version of an HTML email, `standalone` (the code) on a
    line of its own (see text_body.py)."""
    from dmcode import text_body  # noqa: PLC0415

    return text_body.html_to_text(source, standalone)
