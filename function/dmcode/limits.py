"""RATE_LIMITS applied through the store, and the client address they key on.

Every rule is a fixed window that opens with its first event. A request is counted on
all rules at once or on none (`Store.take`), so a refused request spends nothing and
cannot push a real user's window further out.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence

from dmcode.addresses import mailbox
from dmcode.errors import ApiError, retry_after
from dmcode.settings import RateLimit
from dmcode.store import Quota, Store

# (scope, value) -> store key parts that do not hold the value in clear: one per
# configured key during a rotation (see `Keyring.store_keys`), all counted together.
Keyer = Callable[[str, str], Sequence[str]]


def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    # Proxies differ: some write `v4:port` or `[v6]:port`.
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        # A zone names an interface on the proxy, not a different client.
        return ipaddress.IPv6Address(address.packed)
    return address


def client_ip(source_ip: str, x_forwarded_for: str | None, trust_proxy: int) -> str:
    """The address limits key on.

    With `trust_proxy` = N > 0, the Nth entry from the right of X-Forwarded-For: the
    address the outermost trusted proxy saw (entries further left are the client's own
    word). Otherwise, or when that entry is missing or not an address, FC's `sourceIp`.
    """
    if trust_proxy > 0 and x_forwarded_for:
        entries = [entry for entry in x_forwarded_for.split(",") if entry.strip()]
        if len(entries) >= trust_proxy:
            address = _parse_ip(entries[-trust_proxy])
            if address is not None:
                return str(address)
    address = _parse_ip(source_ip)
    return str(address) if address is not None else source_ip.strip()


def ip_bucket(ip: str) -> str:
    """IPv4 by address, IPv6 by its /64: one host usually holds a whole /64."""
    address = _parse_ip(ip)
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address) if address is not None else ip


class Limiter:
    """Counts a send against every rule, refusing with 429 when any rule is full."""

    def __init__(
        self, rules: Sequence[RateLimit], store: Store, keyer: Keyer, namespace: str = "rl"
    ) -> None:
        self.rules = tuple(rules)
        self.store = store
        self.keyer = keyer
        # The public flow and /send keep separate budgets even under equal rules.
        self.namespace = namespace

    @property
    def resend_in(self) -> int:
        """The shortest window of a per-address rule: how long a UI should count down."""
        return min((rule.window for rule in self.rules if rule.scope == "to"), default=0)

    def _quotas(self, rule: RateLimit, to: str, ip: str) -> list[Quota]:
        """The counters `rule` keeps for this send: one per store key while keys rotate,
        none when the rule's key is unknown.

        A send without a client address (a direct invocation, a /send without `ip`) is
        not counted on `ip` rules: one shared bucket for all of them would let a few
        such sends block every other.
        """
        if rule.scope == "to":
            # Every spelling of one mailbox shares its budget.
            subjects: Sequence[str] = self.keyer("to", mailbox(to))
        elif rule.scope == "ip":
            if _parse_ip(ip) is None:
                return []
            subjects = self.keyer("ip", ip_bucket(ip))
        else:
            subjects = ("all",)
        return [
            Quota(f"{self.namespace}:{rule.name}:{subject}", rule.count, rule.window)
            for subject in subjects
        ]

    def take(self, to: str, ip: str) -> None:
        """Counts one send to `to` from `ip`, or raises 429 `rate_limited`."""
        quotas = [quota for rule in self.rules for quota in self._quotas(rule, to, ip)]
        if not quotas:
            return
        counted, usage = self.store.take(quotas)
        if counted:
            return
        waits = [u.ttl for q, u in zip(quotas, usage, strict=True) if u.used >= q.limit]
        raise ApiError(
            429,
            "rate_limited",
            "Too many codes requested; wait before asking again.",
            headers=retry_after(max(waits, default=1.0)),
        )

    def refund_recipient(self, to: str) -> None:
        """Gives back what a send cost the per-address rules (the others stay spent)."""
        quotas = [
            quota
            for rule in self.rules
            if rule.scope == "to"
            for quota in self._quotas(rule, to, "")
        ]
        if quotas:
            self.store.release(quotas)
