"""Rate limits and the client address they key on."""

from __future__ import annotations

import pytest
import redis

from dmcode.errors import ApiError
from dmcode.limits import Limiter, client_ip, ip_bucket
from dmcode.otp import Keyring
from dmcode.settings import load
from dmcode.store import RedisStore
from tests.fixtures.redis import StoreCase

SECRET = "limits-test-secret-0123456789-abcdefgh"
ANN, BOB = "ann@example.com", "bob@example.com"


def limiter(case: StoreCase, rules: str) -> Limiter:
    # The rules alone, as settings read them (the public flow would insist on a to: rule).
    settings = load({"DM_ACCOUNT_NAME": "noreply@mail.example.com", "RATE_LIMITS": rules})
    return Limiter(settings.rate_limits, case.store, Keyring([SECRET]).store_keys)


def refused(limits: Limiter, to: str, ip: str) -> int:
    """The Retry-After of a refused send (and fails the test if it was let through)."""
    with pytest.raises(ApiError) as caught:
        limits.take(to, ip)
    assert (caught.value.status, caught.value.code) == (429, "rate_limited")
    return int(caught.value.headers["Retry-After"])


@pytest.mark.parametrize(
    ("source", "forwarded", "trust", "expected"),
    [
        ("10.0.0.9", None, 0, "10.0.0.9"),
        ("10.0.0.9", "198.51.100.7", 0, "10.0.0.9"),
        ("10.0.0.9", "198.51.100.7", 1, "198.51.100.7"),
        ("10.0.0.9", "6.6.6.6, 198.51.100.7", 1, "198.51.100.7"),
        ("10.0.0.9", "6.6.6.6, 198.51.100.7, 10.1.1.1", 2, "198.51.100.7"),
        ("10.0.0.9", " 6.6.6.6 ,198.51.100.7 ", 1, "198.51.100.7"),
        ("10.0.0.9", "198.51.100.7", 2, "10.0.0.9"),
        ("10.0.0.9", "", 1, "10.0.0.9"),
        ("10.0.0.9", " , ", 1, "10.0.0.9"),
        ("10.0.0.9", "unknown", 1, "10.0.0.9"),
        ("10.0.0.9", "6.6.6.6, <script>", 1, "10.0.0.9"),
        ("10.0.0.9", "198.51.100.7:4711", 1, "198.51.100.7"),
        ("10.0.0.9", "[2001:db8::7]:4711", 1, "2001:db8::7"),
        ("10.0.0.9", "2001:DB8:0::7", 1, "2001:db8::7"),
        ("10.0.0.9", "::ffff:198.51.100.7", 1, "198.51.100.7"),
        ("10.0.0.9", "fe80::1%eth0", 1, "fe80::1"),
        ("::ffff:10.0.0.9", None, 0, "10.0.0.9"),
    ],
)
def test_client_ip_trusts_only_the_configured_hops(
    source: str, forwarded: str | None, trust: int, expected: str
) -> None:
    assert client_ip(source, forwarded, trust) == expected


def test_ipv4_is_keyed_by_address_and_ipv6_by_its_64() -> None:
    assert ip_bucket("198.51.100.7") == "198.51.100.7"
    assert ip_bucket("198.51.100.8") != ip_bucket("198.51.100.7")
    assert ip_bucket("2001:db8:1:2::1") == ip_bucket("2001:db8:1:2:ffff:ffff:ffff:ffff")
    assert ip_bucket("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert ip_bucket("2001:db8:1:3::1") != ip_bucket("2001:db8:1:2::1")
    assert ip_bucket("not an address") == "not an address"


def test_one_send_per_address_per_window_whatever_the_ip(store_case: StoreCase) -> None:
    limits = limiter(store_case, "to:1/60s")
    limits.take(ANN, "198.51.100.1")
    assert refused(limits, ANN, "198.51.100.2") == 60
    limits.take(BOB, "198.51.100.1")


def test_the_ip_rule_counts_every_address_from_one_client(store_case: StoreCase) -> None:
    limits = limiter(store_case, "ip:3/1h")
    for index in range(3):
        limits.take(f"user{index}@example.com", "2001:db8:1:2::1")
    assert refused(limits, "other@example.com", "2001:db8:1:2::99") == 3600
    limits.take("other@example.com", "2001:db8:1:3::1")
    limits.take("other@example.com", "198.51.100.1")


def test_the_global_rule_counts_everyone(store_case: StoreCase) -> None:
    limits = limiter(store_case, "global:2/1d")
    limits.take(ANN, "198.51.100.1")
    limits.take(BOB, "198.51.100.2")
    assert refused(limits, "carol@example.com", "198.51.100.3") == 86_400


def test_retry_after_is_the_longest_blocking_rule(store_case: StoreCase) -> None:
    limits = limiter(store_case, "to:1/60s,ip:1/1h,global:100/1d")
    limits.take(ANN, "198.51.100.1")
    store_case.wait(1.0)
    wait = refused(limits, ANN, "198.51.100.1")
    assert 3590 <= wait <= 3600
    assert 58 <= refused(limits, ANN, "198.51.100.2") <= 60


def test_a_refused_send_spends_nothing(store_case: StoreCase) -> None:
    limits = limiter(store_case, "to:1/1s,ip:2/1h")
    limits.take(ANN, "198.51.100.1")
    for _ in range(5):
        refused(limits, ANN, "198.51.100.1")
    store_case.wait(1.1)
    limits.take(ANN, "198.51.100.1")
    refused(limits, BOB, "198.51.100.1")


def test_a_window_reopens_after_it_ends(store_case: StoreCase) -> None:
    limits = limiter(store_case, "to:2/2s")
    limits.take(ANN, "198.51.100.1")
    limits.take(ANN, "198.51.100.1")
    assert refused(limits, ANN, "198.51.100.1") <= 2
    store_case.wait(2.1)
    limits.take(ANN, "198.51.100.1")


def test_a_refund_gives_back_only_the_address_budget(store_case: StoreCase) -> None:
    limits = limiter(store_case, "to:1/60s,ip:2/1h")
    limits.take(ANN, "198.51.100.1")
    limits.refund_recipient(ANN)
    limits.take(ANN, "198.51.100.1")
    limits.refund_recipient(ANN)
    assert refused(limits, ANN, "198.51.100.1") == 3600


def test_resend_in_is_the_shortest_address_window(store_case: StoreCase) -> None:
    assert limiter(store_case, "to:5/1h,to:1/60s,ip:1/1s").resend_in == 60
    assert limiter(store_case, "ip:20/1h").resend_in == 0


def test_store_keys_hold_no_address_or_ip_in_clear(redis_url: str) -> None:
    store = RedisStore(redis_url)
    settings = load(
        {"DM_ACCOUNT_NAME": "noreply@mail.example.com", "CODE_SECRETS": SECRET, "STORE": "memory"}
    )
    limits = Limiter(settings.rate_limits, store, Keyring([SECRET]).store_keys)
    limits.take("ann.lee@example.com", "198.51.100.77")
    limits.take("bob.lee@example.com", "2001:db8:aaaa:bbbb::1")
    keys = redis.Redis.from_url(redis_url, decode_responses=True).keys("*")
    # Per address: three `to` rules each; per client: one `ip` rule each; one global.
    assert len(keys) == 9
    for key in keys:
        assert "lee" not in key and "example" not in key
        assert "198.51" not in key and "2001" not in key and "db8" not in key
    store.close()
