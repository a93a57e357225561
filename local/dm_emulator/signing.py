"""Request authentication as Alibaba Cloud's OpenAPI gateway does it for DirectMail.

Two schemes reach DirectMail: the V3 `ACS3-HMAC-SHA256` Authorization header the
current SDKs send (checked by `local.acs3`, shared with the local FC runtime), and the
older RPC form with an HMAC-SHA1 `Signature` parameter that hand-written clients and
the documentation's examples use. Refusals carry DM's gateway error codes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping

from local import acs3
from local.acs3 import ApiRequest, Caller, Clock, KeyPair, Reason, percent_encode
from local.dm_emulator import errors
from local.dm_emulator.errors import DMError, Refusal

# The gateway's answer to each reason a signature check can fail.
REFUSALS: dict[Reason, Refusal] = {
    Reason.INCOMPLETE: errors.INCOMPLETE_SIGNATURE,
    Reason.KEY_NOT_FOUND: errors.ACCESS_KEY_NOT_FOUND,
    Reason.MISMATCH: errors.SIGNATURE_MISMATCH,
    Reason.TOKEN_MISMATCH: errors.SECURITY_TOKEN_MISMATCH,
    Reason.TOKEN_MISSING: errors.SECURITY_TOKEN_MISSING,
    Reason.TIMESTAMP_FORMAT: errors.TIMESTAMP_FORMAT,
    Reason.TIMESTAMP_EXPIRED: errors.TIMESTAMP_EXPIRED,
    Reason.NONCE_MISSING: errors.missing("SignatureNonce"),
    Reason.NONCE_USED: errors.NONCE_USED,
}


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


def claimed_key_id(request: ApiRequest) -> str | None:
    """The access key id a request names, whether or not it proves it."""
    authorization = request.header("authorization") or ""
    match = re.search(r"Credential=([^,\s]+)", authorization)
    return match.group(1) if match else request.params().get("AccessKeyId")


class Verifier:
    """Checks either scheme against known keys; raises DMError with DM's gateway codes."""

    def __init__(self, keys: Mapping[str, KeyPair], clock: Clock) -> None:
        self._acs3 = acs3.Verifier(keys, clock)

    def forget_nonces(self) -> None:
        self._acs3.forget_nonces()

    def verify(self, request: ApiRequest) -> Caller:
        try:
            authorization = request.header("authorization")
            if authorization:
                caller, key = self._acs3.verify_v3(request, authorization)
                self._acs3.check_token(key, request.header(acs3.TOKEN_HEADER))
                return caller
            return self._verify_rpc(request)
        except acs3.Rejected as rejected:
            raise DMError(REFUSALS[rejected.reason]) from None

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
        key = self._acs3.key(access_key_id)
        expected = rpc_signature(request.method, params, key.secret)
        if not hmac.compare_digest(expected, params["Signature"]):
            raise DMError(errors.SIGNATURE_MISMATCH)
        token = params.get("SecurityToken")
        self._acs3.check_fresh(
            access_key_id, acs3.parse_timestamp(params["Timestamp"]), params.get("SignatureNonce")
        )
        self._acs3.check_token(key, token)
        return Caller(access_key_id, token is not None)
