"""Authenticating FC 3.0 (2023-03-30) API calls: `ACS3-HMAC-SHA256`, as the SDK signs them.

`alibabacloud-fc20230330` signs through `alibabacloud-tea-openapi` with the V3 scheme that
`local.acs3` verifies for the DM emulator too; this module only says it in FC's words
(the 2023-03-30 error codes: `MissingRequiredHeader`, `InvalidAccessKeyID`,
`SignatureNotMatch`, `InvalidArgument`). An STS token is accepted when it is signed: this
runtime has no STS to ask whether it is current, as the 2016-08-15 path does not either.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl

from local import acs3
from local.acs3 import Reason
from local.fc_runtime.events import HttpRequest
from local.fc_runtime.signature import SignatureError

MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your access key and signing method"
)


def api_request(request: HttpRequest) -> acs3.ApiRequest:
    headers: dict[str, list[str]] = {}
    for name, value in request.headers:
        headers.setdefault(name.lower(), []).append(value)
    return acs3.ApiRequest(
        method=request.method,
        path=request.path,
        query=parse_qsl(request.query, keep_blank_values=True),
        headers=headers,
        body=request.body,
        form=[],
    )


def refusal(rejected: acs3.Rejected) -> SignatureError:
    """FC's answer to a failed V3 check."""
    reason = rejected.reason
    if reason is Reason.KEY_NOT_FOUND:
        return SignatureError(
            403, "InvalidAccessKeyID", f"invalid access key ID '{rejected.key_id}'"
        )
    if reason is Reason.TIMESTAMP_FORMAT:
        return SignatureError(
            400, "InvalidArgument", "x-acs-date must be a UTC time such as 2024-01-02T03:04:05Z"
        )
    if reason is Reason.NONCE_MISSING:
        return SignatureError(
            400,
            "MissingRequiredHeader",
            "required HTTP header x-acs-signature-nonce was not specified",
        )
    messages = {
        Reason.INCOMPLETE: "Authorization must be ACS3-HMAC-SHA256 Credential=<id>,"
        "SignedHeaders=<host;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;...>,"
        "Signature=<hex>",
        Reason.TIMESTAMP_EXPIRED: "the request x-acs-date is more than 15 minutes away from "
        "the server time",
        Reason.NONCE_USED: "the x-acs-signature-nonce was used already (a replayed request)",
        Reason.TOKEN_MISMATCH: "x-acs-accesskey-id does not match the signing key",
    }
    return SignatureError(403, "SignatureNotMatch", messages.get(reason, MISMATCH))


class V3Authenticator:
    """Checks 2023-03-30 calls against the runtime's API key pairs (id -> secret)."""

    def __init__(self, keys: Mapping[str, str]) -> None:
        self._verifier = acs3.Verifier({k: acs3.KeyPair(v) for k, v in keys.items()})

    def verify(self, request: HttpRequest) -> str:
        """Return the caller's AccessKeyId; raise SignatureError in FC's terms."""
        authorization = request.header("authorization")
        if not authorization:
            raise SignatureError(
                400, "MissingRequiredHeader", "required HTTP header Authorization was not specified"
            )
        try:
            caller, _ = self._verifier.verify_v3(api_request(request), authorization)
        except acs3.Rejected as rejected:
            raise refusal(rejected) from None
        return caller.access_key_id
