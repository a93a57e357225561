"""Request authentication as Alibaba Cloud's OpenAPI gateway does it.

Two schemes reach DirectMail: the V3 `ACS3-HMAC-SHA256` Authorization header the
current SDKs send, and the older RPC form with an HMAC-SHA1 `Signature` parameter
that hand-written clients and the documentation's examples use.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import hmac
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import quote

from local.dm_emulator import errors
from local.dm_emulator.errors import DMError

V3_ALGORITHM = "ACS3-HMAC-SHA256"
# The gateway refuses requests dated more than 15 minutes from its clock, and
# remembers nonces for as long, so a captured request cannot be replayed.
MAX_SKEW_SECONDS = 15 * 60
V3_REQUIRED_SIGNED = ("host", "x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256")
TOKEN_HEADER = "x-acs-security-token"  # noqa: S105 - a header name

Clock = Callable[[], float]


@dataclass(frozen=True)
class KeyPair:
    """A secret the emulator knows, optionally bound to an STS security token."""

    secret: str
    security_token: str | None = None


@dataclass(frozen=True)
class ApiRequest:
    """What signature checks read from an HTTP request, already parsed."""

    method: str
    path: str
    query: list[tuple[str, str]]
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
    """RFC 3986 encoding, the one both signature schemes prescribe."""
    return quote(value, safe="~")


def parse_timestamp(value: str | None) -> float:
    if not value:
        raise DMError(errors.TIMESTAMP_FORMAT)
    try:
        return float(calendar.timegm(time.strptime(value, "%Y-%m-%dT%H:%M:%SZ")))
    except ValueError:
        raise DMError(errors.TIMESTAMP_FORMAT) from None


def rpc_signature(method: str, params: Mapping[str, str], secret: str) -> str:
    """The HMAC-SHA1 signature of the RPC scheme, over every parameter but Signature."""
    canonical = "&".join(
        f"{percent_encode(k)}={percent_encode(v)}"
        for k, v in sorted(params.items())
        if k != "Signature"
    )
    to_sign = f"{method.upper()}&{percent_encode('/')}&{percent_encode(canonical)}"
    digest = hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


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
        raise DMError(errors.INCOMPLETE_SIGNATURE)
    fields = dict(part.strip().partition("=")[::2] for part in rest.split(","))
    credential = fields.get("Credential", "")
    signature = fields.get("Signature", "")
    signed = [h for h in fields.get("SignedHeaders", "").split(";") if h]
    if not credential or not signature or not signed:
        raise DMError(errors.INCOMPLETE_SIGNATURE)
    return credential, signed, signature


def claimed_key_id(request: ApiRequest) -> str | None:
    """The access key id a request names, whether or not it proves it."""
    authorization = request.header("authorization") or ""
    match = re.search(r"Credential=([^,\s]+)", authorization)
    return match.group(1) if match else request.params().get("AccessKeyId")


class Verifier:
    """Checks signatures, clock skew, nonce reuse and STS tokens against known keys."""

    def __init__(self, keys: Mapping[str, KeyPair], clock: Clock) -> None:
        self._keys = dict(keys)
        self._clock = clock
        self._nonces: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def forget_nonces(self) -> None:
        with self._lock:
            self._nonces.clear()

    def verify(self, request: ApiRequest) -> Caller:
        authorization = request.header("authorization")
        if authorization:
            return self._verify_v3(request, authorization)
        return self._verify_rpc(request)

    def _key(self, access_key_id: str) -> KeyPair:
        key = self._keys.get(access_key_id)
        if key is None:
            raise DMError(errors.ACCESS_KEY_NOT_FOUND)
        return key

    def _verify_v3(self, request: ApiRequest, authorization: str) -> Caller:
        access_key_id, signed, signature = parse_authorization(authorization)
        key = self._key(access_key_id)
        token = request.header(TOKEN_HEADER)
        must_sign = set(V3_REQUIRED_SIGNED) | ({TOKEN_HEADER} if token is not None else set())
        if not must_sign <= set(signed):
            raise DMError(errors.INCOMPLETE_SIGNATURE)
        body_hash = hashlib.sha256(request.body).hexdigest()
        if not hmac.compare_digest(body_hash, request.header("x-acs-content-sha256") or ""):
            raise DMError(errors.SIGNATURE_MISMATCH)
        expected = v3_signature(request, signed, key.secret)
        if not hmac.compare_digest(expected, signature):
            raise DMError(errors.SIGNATURE_MISMATCH)
        header_key_id = request.header("x-acs-accesskey-id")
        if header_key_id is not None and header_key_id != access_key_id:
            raise DMError(errors.SECURITY_TOKEN_MISMATCH)
        self._check_fresh(
            access_key_id,
            parse_timestamp(request.header("x-acs-date")),
            request.header("x-acs-signature-nonce"),
        )
        self._check_token(key, token)
        return Caller(access_key_id, token is not None)

    def _verify_rpc(self, request: ApiRequest) -> Caller:
        params = request.params()
        for name in ("AccessKeyId", "Signature", "SignatureMethod", "Timestamp"):
            if not params.get(name):
                raise DMError(errors.missing(name))
        if params["SignatureMethod"] != "HMAC-SHA1":
            raise DMError(errors.invalid_parameter("SignatureMethod"))
        if params.get("SignatureVersion", "1.0") != "1.0":
            raise DMError(errors.invalid_parameter("SignatureVersion"))
        access_key_id = params["AccessKeyId"]
        key = self._key(access_key_id)
        expected = rpc_signature(request.method, params, key.secret)
        if not hmac.compare_digest(expected, params["Signature"]):
            raise DMError(errors.SIGNATURE_MISMATCH)
        token = params.get("SecurityToken")
        self._check_fresh(
            access_key_id, parse_timestamp(params["Timestamp"]), params.get("SignatureNonce")
        )
        self._check_token(key, token)
        return Caller(access_key_id, token is not None)

    def _check_fresh(self, access_key_id: str, timestamp: float, nonce: str | None) -> None:
        now = self._clock()
        if abs(now - timestamp) > MAX_SKEW_SECONDS:
            raise DMError(errors.TIMESTAMP_EXPIRED)
        if not nonce:
            raise DMError(errors.missing("SignatureNonce"))
        with self._lock:
            horizon = now - MAX_SKEW_SECONDS
            self._nonces = {k: t for k, t in self._nonces.items() if t >= horizon}
            if (access_key_id, nonce) in self._nonces:
                raise DMError(errors.NONCE_USED)
            self._nonces[(access_key_id, nonce)] = now

    @staticmethod
    def _check_token(key: KeyPair, token: str | None) -> None:
        if key.security_token is None:
            if token is not None:
                raise DMError(errors.SECURITY_TOKEN_MISMATCH)
            return
        if token is None:
            raise DMError(errors.SECURITY_TOKEN_MISSING)
        if not hmac.compare_digest(token, key.security_token):
            raise DMError(errors.SECURITY_TOKEN_MISMATCH)
