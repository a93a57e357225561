"""Alibaba Cloud's V3 request signature, `ACS3-HMAC-SHA256`, as the OpenAPI gateway checks it.

Every current SDK built on `alibabacloud-tea-openapi` signs this way: DirectMail's
(`SingleSendMail`) and Function Compute 3.0's (`InvokeFunction`) alike. One verifier
serves the DM emulator and the local FC runtime; each turns a `Rejected` reason into
its own service's error answer.

Canonical request (`\\n` between the parts): METHOD, the URL-encoded path, the sorted
RFC 3986-encoded query, `name:value\\n` for each signed header, the signed header names
joined by `;`, and `x-acs-content-sha256` (the hex SHA-256 of the body). The signature is
hex(HMAC-SHA256(AccessKeySecret, "ACS3-HMAC-SHA256\\n" + hex(SHA-256(canonical request)))).
"""

from __future__ import annotations

import calendar
import enum
import hashlib
import hmac
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import quote

V3_ALGORITHM = "ACS3-HMAC-SHA256"
# The gateway refuses requests dated more than 15 minutes from its clock, and
# remembers nonces for as long, so a captured request cannot be replayed.
MAX_SKEW_SECONDS = 15 * 60
V3_REQUIRED_SIGNED = ("host", "x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256")
TOKEN_HEADER = "x-acs-security-token"  # noqa: S105 - a header name

Clock = Callable[[], float]


class Reason(enum.Enum):
    """Why a request was refused; each service names it in its own error codes."""

    INCOMPLETE = enum.auto()
    KEY_NOT_FOUND = enum.auto()
    MISMATCH = enum.auto()
    TOKEN_MISMATCH = enum.auto()
    TOKEN_MISSING = enum.auto()
    TIMESTAMP_FORMAT = enum.auto()
    TIMESTAMP_EXPIRED = enum.auto()
    NONCE_MISSING = enum.auto()
    NONCE_USED = enum.auto()


class Rejected(Exception):
    """The request does not authenticate; `key_id` is the one it claimed, when known."""

    def __init__(self, reason: Reason, key_id: str = "") -> None:
        super().__init__(reason.name)
        self.reason = reason
        self.key_id = key_id


@dataclass(frozen=True)
class KeyPair:
    """A secret the server knows, optionally bound to an STS security token."""

    secret: str
    security_token: str | None = None


@dataclass(frozen=True)
class ApiRequest:
    """What signature checks read from an HTTP request, already parsed."""

    method: str
    path: str  # as sent, still URL-encoded
    query: list[tuple[str, str]]  # decoded
    headers: Mapping[str, list[str]]  # lower-case names
    body: bytes
    form: list[tuple[str, str]]

    def header(self, name: str) -> str | None:
        values = self.headers.get(name)
        return values[0] if values else None

    def params(self) -> dict[str, str]:
        """RPC parameters: the query string and the form body together."""
        return dict(self.query + self.form)


@dataclass(frozen=True)
class Caller:
    """Who an authenticated request came from."""

    access_key_id: str
    security_token_sent: bool


def percent_encode(value: str) -> str:
    """RFC 3986 encoding, the one Alibaba Cloud's signature schemes prescribe."""
    return quote(value, safe="~")


def parse_timestamp(value: str | None) -> float:
    """`2026-01-02T03:04:05Z` (UTC) -> epoch seconds; Rejected(TIMESTAMP_FORMAT) otherwise."""
    if not value:
        raise Rejected(Reason.TIMESTAMP_FORMAT)
    try:
        return float(calendar.timegm(time.strptime(value, "%Y-%m-%dT%H:%M:%SZ")))
    except ValueError:
        raise Rejected(Reason.TIMESTAMP_FORMAT) from None


def v3_signature(request: ApiRequest, signed_headers: list[str], secret: str) -> str:
    """The ACS3-HMAC-SHA256 signature over the canonical request."""
    query = "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(request.query))
    canonical_headers = "".join(
        f"{name}:{','.join(sorted(v.strip() for v in request.headers.get(name, [])))}\n"
        for name in signed_headers
    )
    canonical_request = "\n".join(
        [
            request.method.upper(),
            request.path or "/",
            query,
            canonical_headers,
            ";".join(signed_headers),
            request.header("x-acs-content-sha256") or "",
        ]
    )
    to_sign = f"{V3_ALGORITHM}\n{hashlib.sha256(canonical_request.encode()).hexdigest()}"
    return hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()


def parse_authorization(value: str) -> tuple[str, list[str], str]:
    """Split `ACS3-HMAC-SHA256 Credential=..,SignedHeaders=..,Signature=..`."""
    algorithm, _, rest = value.partition(" ")
    if algorithm != V3_ALGORITHM:
        raise Rejected(Reason.INCOMPLETE)
    fields = dict(part.strip().partition("=")[::2] for part in rest.split(","))
    credential = fields.get("Credential", "")
    signature = fields.get("Signature", "")
    signed = [h for h in fields.get("SignedHeaders", "").split(";") if h]
    if not credential or not signature or not signed:
        raise Rejected(Reason.INCOMPLETE)
    return credential, signed, signature


class Verifier:
    """Checks V3 signatures, clock skew, nonce reuse and STS tokens against known keys."""

    def __init__(self, keys: Mapping[str, KeyPair], clock: Clock = time.time) -> None:
        self._keys = dict(keys)
        self._clock = clock
        # In the order they came, so the expired ones are at the front: a request prunes
        # only those, not a pass over every nonce of the last 15 minutes (a benchmark
        # sends thousands, and each pass had slowed every answer).
        self._nonces: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._lock = threading.Lock()

    def forget_nonces(self) -> None:
        with self._lock:
            self._nonces.clear()

    def key(self, access_key_id: str) -> KeyPair:
        key = self._keys.get(access_key_id)
        if key is None:
            raise Rejected(Reason.KEY_NOT_FOUND, access_key_id)
        return key

    def verify_v3(self, request: ApiRequest, authorization: str) -> tuple[Caller, KeyPair]:
        """Signature, body hash, date and nonce; the STS token is left to `check_token`.

        Raises Rejected. A sent security token must be among the signed headers.
        """
        access_key_id, signed, signature = parse_authorization(authorization)
        key = self.key(access_key_id)
        token = request.header(TOKEN_HEADER)
        must_sign = set(V3_REQUIRED_SIGNED) | ({TOKEN_HEADER} if token is not None else set())
        if not must_sign <= set(signed):
            raise Rejected(Reason.INCOMPLETE, access_key_id)
        body_hash = hashlib.sha256(request.body).hexdigest()
        if not hmac.compare_digest(body_hash, request.header("x-acs-content-sha256") or ""):
            raise Rejected(Reason.MISMATCH, access_key_id)
        expected = v3_signature(request, signed, key.secret)
        if not hmac.compare_digest(expected, signature):
            raise Rejected(Reason.MISMATCH, access_key_id)
        header_key_id = request.header("x-acs-accesskey-id")
        if header_key_id is not None and header_key_id != access_key_id:
            raise Rejected(Reason.TOKEN_MISMATCH, access_key_id)
        self.check_fresh(
            access_key_id,
            parse_timestamp(request.header("x-acs-date")),
            request.header("x-acs-signature-nonce"),
        )
        return Caller(access_key_id, token is not None), key

    def check_fresh(self, access_key_id: str, timestamp: float, nonce: str | None) -> None:
        """Within 15 minutes of this clock, and a nonce not seen in that window."""
        now = self._clock()
        if abs(now - timestamp) > MAX_SKEW_SECONDS:
            raise Rejected(Reason.TIMESTAMP_EXPIRED, access_key_id)
        if not nonce:
            raise Rejected(Reason.NONCE_MISSING, access_key_id)
        with self._lock:
            horizon = now - MAX_SKEW_SECONDS
            while self._nonces and next(iter(self._nonces.values())) < horizon:
                self._nonces.popitem(last=False)
            if (access_key_id, nonce) in self._nonces:
                raise Rejected(Reason.NONCE_USED, access_key_id)
            self._nonces[(access_key_id, nonce)] = now

    @staticmethod
    def check_token(key: KeyPair, token: str | None) -> None:
        """A key bound to an STS token needs exactly that token; a plain key, none."""
        if key.security_token is None:
            if token is not None:
                raise Rejected(Reason.TOKEN_MISMATCH)
            return
        if token is None:
            raise Rejected(Reason.TOKEN_MISSING)
        if not hmac.compare_digest(token, key.security_token):
            raise Rejected(Reason.TOKEN_MISMATCH)
