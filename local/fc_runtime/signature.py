"""Verifying FC 2016-08-15 API signatures (`Authorization: FC <AccessKeyId>:<signature>`).

String to sign, per FC's "Signature authentication" page (`\\n` between the parts):
    METHOD, Content-MD5, Content-Type, Date, CanonicalizedFCHeaders + CanonicalizedResource
signature = base64(HMAC-SHA256(AccessKeySecret, string to sign)).
CanonicalizedFCHeaders: every `x-fc-*` header, name lowercased, sorted, `name:value\\n` each.
CanonicalizedResource: the URL-decoded path; for an HTTP-trigger (proxy) call, followed by
`\\n` and the sorted `key=value` query parameters joined by `\\n` (just `\\n` when none).
The body is covered only through Content-MD5, which is checked against it when sent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl, unquote

from local.fc_runtime.events import HttpRequest

MAX_CLOCK_SKEW = timedelta(minutes=15)


class SignatureError(Exception):
    """FC refuses the call: status, FC error code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def canonical_headers(headers: list[tuple[str, str]]) -> str:
    fc_headers = sorted((k.lower(), v) for k, v in headers if k.lower().startswith("x-fc-"))
    return "".join(f"{k}:{v}\n" for k, v in fc_headers)


def canonical_resource(path: str, query: str, with_params: bool) -> str:
    resource = unquote(path)
    if not with_params:
        return resource
    params = sorted(f"{k}={v}" for k, v in parse_qsl(query, keep_blank_values=True))
    return resource + "\n" + "\n".join(params)


def string_to_sign(request: HttpRequest, with_params: bool) -> str:
    return "\n".join(
        [
            request.method.upper(),
            request.header("content-md5"),
            request.header("content-type"),
            request.header("date"),
            canonical_headers(request.headers)
            + canonical_resource(request.path, request.query, with_params),
        ]
    )


def sign(secret: str, text: str) -> str:
    digest = hmac.new(secret.encode(), text.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify(
    request: HttpRequest,
    keys: dict[str, str],
    with_params: bool,
    now: datetime | None = None,
) -> str:
    """Check the request's signature against `keys`; return the caller's AccessKeyId."""
    for name in ("Authorization", "Date"):
        if not request.header(name):
            raise SignatureError(
                400, "MissingRequiredHeader", f"required HTTP header {name} was not specified"
            )
    scheme, _, credential = request.header("authorization").partition(" ")
    key_id, _, given = credential.partition(":")
    if scheme != "FC" or not key_id or not given:
        raise SignatureError(403, "SignatureNotMatch", "Authorization must be FC <id>:<signature>")
    secret = keys.get(key_id)
    if secret is None:
        raise SignatureError(403, "InvalidAccessKeyID", f"invalid access key ID '{key_id}'")
    try:
        sent = parsedate_to_datetime(request.header("date"))
    except (TypeError, ValueError):
        raise SignatureError(400, "InvalidArgument", "Date is not an RFC 1123 date") from None
    if sent.tzinfo is None:
        sent = sent.replace(tzinfo=timezone.utc)
    if abs((now or datetime.now(timezone.utc)) - sent) > MAX_CLOCK_SKEW:
        raise SignatureError(
            403,
            "SignatureNotMatch",
            "the request Date is more than 15 minutes away from the server time",
        )
    md5 = request.header("content-md5")
    digest = hashlib.md5(request.body, usedforsecurity=False).digest()
    if md5 and md5 != base64.b64encode(digest).decode():
        raise SignatureError(400, "InvalidArgument", "Content-MD5 does not match the body")
    expected = sign(secret, string_to_sign(request, with_params))
    if not hmac.compare_digest(expected, given):
        raise SignatureError(
            403,
            "SignatureNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your access key and signing method",
        )
    return key_id
