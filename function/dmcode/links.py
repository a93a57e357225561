"""SEND_LINK_HOSTS: a `payload.link` judged the way a browser will read it.

A link is parsed with a WHATWG URL parser (ada, the parser of Node.js), the standard
browsers follow, so the host checked is the host a reader's browser goes to, whatever
way of writing the URL it accepts (`https:host`, `https:///host`, percent-encoded or
full-width dots, IDN, numeric IPv4 ...). What the mail then links is the parser's own
serialisation of that URL, not the caller's text.

Mail clients do not all parse URLs as browsers do, so whatever two parsers read
differently is refused outright rather than judged: backslashes (WHATWG reads `\\` as
`/` in http(s) URLs, RFC 3986 parsers keep it in the authority), user information
(`good@evil`), and control characters, spaces and DEL (WHATWG drops tabs and line
breaks anywhere and trims the ends; other parsers do not).

Loaded only when SEND_LINK_HOSTS is set: a deployment without it never imports ada.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from ada_url import parse_url

from dmcode.errors import ApiError

# What parsers disagree on: backslashes, C0 controls and space, DEL, C1 controls.
_AMBIGUOUS = re.compile(r"[\\\x00-\x20\x7f-\x9f]")


def _refused() -> ApiError:
    return ApiError(
        400,
        "invalid_request",
        "payload.link must be https on a host listed in SEND_LINK_HOSTS, "
        "without user information, backslashes, spaces or control characters.",
        field="payload.link",
    )


def allowed_link(link: str, hosts: Collection[str]) -> str:
    """The link to mail: `link` as a browser reads it (its WHATWG serialisation), when
    that is `https` on one of `hosts` (lowercase host names, compared exactly).

    Raises ApiError 400 `invalid_request` (field `payload.link`) otherwise.
    """
    if _AMBIGUOUS.search(link):
        raise _refused()
    try:
        parts = parse_url(link, attributes=("href", "protocol", "username", "password", "hostname"))
    except ValueError:
        raise _refused() from None
    if (
        parts["protocol"] != "https:"
        or parts["username"]
        or parts["password"]
        or parts["hostname"] not in hosts
    ):
        raise _refused()
    return str(parts["href"])
