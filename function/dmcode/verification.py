"""The public verification flow: send a code to an address, then check it.

`start` counts the send against RATE_LIMITS before anything is mailed, sends the code
and answers a sealed token. `check` opens the token, refuses it when it was replaced or
used, counts the attempt (per token and per address, CODE_MAX_ATTEMPTS each within the
token's life, a malformed code included) and only then compares keyed hashes in
constant time. A right code is consumed once and answered with a signed proof.

A failed send: the per-IP and global budgets stay spent, so probing addresses or DM
costs the caller as much as a real send. The per-address budget is given back when DM
certainly did not send the mail (it refused the call), so an outage does not lock a real
user out of their own address; after a timeout the mail may have gone out, so it stays
spent. The previous token of the address stays valid, since no new code arrived.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from dmcode.errors import ApiError, retry_after
from dmcode.limits import Limiter
from dmcode.otp import Keyring, TokenSealer, new_code
from dmcode.proof import Prover
from dmcode.settings import Settings
from dmcode.store import Quota, Store

# send(to, usage_type, locale, payload); raises ApiError on failure.
SendFn = Callable[[str, str, str | None, dict[str, object]], object]

# DM answered these without sending; anything else may have mailed the code.
_NOT_SENT = frozenset(
    {
        "recipient_rejected",
        "upstream_throttled",
        "quota_exhausted",
        "upstream_error",
        "config_error",
    }
)
# The used-token mark outlives the token a little, for instances whose clocks disagree.
_USED_MARGIN = 300


def _expired() -> ApiError:
    return ApiError(410, "expired", "The code has expired; request a new one.")


class VerificationFlow:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        send: SendFn,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store = store
        self.send = send
        self.clock = clock
        self.keyring = Keyring(settings.code_secrets)
        self.sealer = TokenSealer(self.keyring)
        self.prover = Prover(self.keyring, settings.issuer)
        self.limiter = Limiter(settings.rate_limits, store, self.keyring.store_key)

    def _current_key(self, to: str) -> str:
        return f"cur:{self.keyring.store_key('to', to)}"

    def start(self, to: str, usage_type: str, locale: str | None, ip: str) -> dict[str, object]:
        """Mails a new code to `to` (already normalised) and answers its token."""
        self.limiter.take(to, ip)
        code = new_code(self.settings.code_length)
        ttl = self.settings.code_ttl_seconds
        token, ticket = self.sealer.issue(to, usage_type, locale, code, now=self.clock(), ttl=ttl)
        payload: dict[str, object] = {"code": code}
        if locale is not None:
            payload["locale"] = locale
        try:
            self.send(to, usage_type, locale, payload)
        except ApiError as error:
            if error.code in _NOT_SENT:
                self.limiter.refund_recipient(to)
            raise
        # Only now does the new token replace the previous one: the mail is on its way.
        self.store.put(self._current_key(to), ticket.token_ref, ttl)
        return {"token": token, "expiresIn": ttl, "resendIn": self.limiter.resend_in}

    def check(self, token: str, code: str) -> dict[str, object]:
        """The proof for a right code; every other answer is an ApiError."""
        now = self.clock()
        ticket = self.sealer.open(token, now)
        current_key = self._current_key(ticket.to)
        used_key = f"used:{ticket.token_ref}"
        current = self.store.get(current_key)
        # No pointer: none written since a key rotation (or an emptied store); the token decides.
        if current is not None and current != ticket.token_ref:
            raise _expired()
        if self.store.get(used_key) is not None:
            raise _expired()

        life = max(1, math.ceil(ticket.expires_at - now))
        limit = self.settings.code_max_attempts
        quotas = [
            Quota(f"att:t:{ticket.token_ref}", limit, life),
            Quota(f"att:to:{self.keyring.store_key('to', ticket.to)}", limit, life),
        ]
        counted, usage = self.store.take(quotas)
        if not counted:
            address_usage = usage[1]
            # The token is spent until it expires; the address may stay blocked longer.
            wait = ticket.expires_at - now
            if address_usage.used >= limit:
                wait = max(wait, address_usage.ttl)
            raise ApiError(
                429,
                "too_many_attempts",
                "Too many wrong codes; request a new code later.",
                headers=retry_after(wait),
            )

        key = self.keyring.find(ticket.kid)
        if key is None or not ticket.matches(key, code.strip()):
            left = limit - max(u.used for u in usage)
            raise ApiError(
                400,
                "invalid_code",
                "The code is not right.",
                field="code",
                extra={"attemptsLeft": left},
            )
        if not self.store.consume(used_key, life + _USED_MARGIN):
            raise _expired()
        # The address proved itself: its earlier mistakes no longer count against it.
        self.store.delete(quotas[1].key)
        return {
            "valid": True,
            "to": ticket.to,
            "type": ticket.usage_type,
            "proof": self.prover.issue(ticket.to, ticket.usage_type, now),
        }

    def jwks(self) -> dict[str, object]:
        return {"keys": self.prover.jwks()["keys"]}
