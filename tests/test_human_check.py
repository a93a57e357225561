"""The human check of POST /verifications against the captcha stand-ins over real HTTP:
Turnstile's and hCaptcha's siteverify, and Captcha 2.0 through its official SDK with a
V3 signature the stand-in verifies. Nothing is mailed and no budget is spent unless the
check passed."""

import json
import subprocess
import sys
import time

import pytest

from local.acs3 import KeyPair
from local.dm_emulator.signing import Verifier
from local.fc_runtime import Credentials
from tests.fixtures.captcha import (
    CAPTCHA_KEY_ID,
    CAPTCHA_KEY_SECRET,
    CAPTCHA_SECRET,
    PAGE,
    SCENE_ID,
    SITE_KEY,
)
from tests.fixtures.emulator import (
    SENDER,
    STS_KEY_ID,
    STS_KEY_SECRET,
    STS_TOKEN,
    dm_variables,
)
from tests.fixtures.function import SEND_TOKEN, Context
from tests.fixtures.runtime import FUNCTION_DIR

PROVIDERS = ["turnstile", "hcaptcha", "aliyun"]
TO = "visitor@example.com"


def provider_env(provider, captcha):
    if provider == "aliyun":
        return {
            "CAPTCHA_PROVIDER": "aliyun",
            "CAPTCHA_SCENE_ID": SCENE_ID,
            "CAPTCHA_ACCESS_KEY_ID": CAPTCHA_KEY_ID,
            "CAPTCHA_ACCESS_KEY_SECRET": CAPTCHA_KEY_SECRET,
            "CAPTCHA_ENDPOINT": captcha.url,
        }
    return {
        "CAPTCHA_PROVIDER": provider,
        "CAPTCHA_SECRET": CAPTCHA_SECRET,
        "CAPTCHA_SITE_KEY": SITE_KEY,
        "CAPTCHA_ENDPOINT": captcha.url,
    }


@pytest.fixture
def base_env(emulator):
    return {
        **dm_variables(emulator),
        "CODE_SECRETS": "human-check-code-secret-0123456789abcdef",
        "STORE": "memory",
        "CORS_ALLOW_ORIGINS": PAGE,
        "CAPTCHA_TIMEOUT_MS": "500",
    }


@pytest.fixture(params=PROVIDERS)
def provider(request):
    return request.param


@pytest.fixture
def fn(start_function, base_env, captcha, provider):
    return start_function({**base_env, **provider_env(provider, captcha)})


def start(fn, **body):
    return fn.call("POST", "/verifications", {"to": TO, **body}, {"Origin": PAGE})


def test_a_solved_widget_lets_the_code_go_out(fn, captcha, provider, emulator):
    reply = start(fn, captcha=captcha.token(provider))
    assert reply.status == 202
    assert len(emulator.sent(to=TO)) == 1


@pytest.mark.parametrize("body", [{}, {"captcha": ""}, {"captcha": None}])
def test_a_missing_token_is_captcha_required_and_asks_no_provider(fn, captcha, emulator, body):
    reply = start(fn, **body)
    assert reply.status == 400
    assert reply.code == "captcha_required"
    assert reply.body["error"]["field"] == "captcha"
    assert captcha.verifications == 0
    assert emulator.messages() == []


@pytest.mark.parametrize("token", [123, ["a"], {"t": 1}, True, "x" * 8193])
def test_a_token_that_is_not_a_widget_token_is_an_invalid_request(fn, captcha, token):
    reply = start(fn, captcha=token)
    assert reply.status == 400
    assert reply.code == "invalid_request"
    assert captcha.verifications == 0


@pytest.mark.parametrize(
    "token", ["forged", "0.forged", "P1_forged", '{"certifyId": "x"}', "\u202e"]
)
def test_a_forged_token_fails_and_nothing_is_mailed(fn, emulator, token):
    reply = start(fn, captcha=token)
    assert reply.status == 403
    assert reply.code == "captcha_failed"
    assert emulator.messages() == []


def test_a_replayed_token_fails(fn, captcha, provider, emulator):
    token = captcha.token(provider)
    assert start(fn, captcha=token).status == 202
    again = fn.call(
        "POST", "/verifications", {"to": "other@example.com", "captcha": token}, {"Origin": PAGE}
    )
    assert again.status == 403
    assert again.code == "captcha_failed"
    assert len(emulator.messages()) == 1


def test_a_token_from_another_site_fails(fn, captcha, provider, emulator):
    if provider == "aliyun":
        # Captcha 2.0 binds a token to its scene, which is created for one site.
        captcha.server.service.scenes.add("other-scene")
        token = captcha.token(provider, site="other-scene")
    else:
        # Solved with our site key, on a page that is not ours (a token farm).
        token = captcha.token(provider, page="https://farm.example.net")
    reply = start(fn, captcha=token)
    assert reply.status == 403
    assert reply.code == "captcha_failed"
    assert emulator.messages() == []


def test_the_check_runs_before_the_limits(start_function, base_env, captcha, provider, emulator):
    fn = start_function(
        {**base_env, **provider_env(provider, captcha), "RATE_LIMITS": "to:100/1h,ip:1/1h"}
    )
    for _ in range(3):
        assert start(fn, captcha="forged").code == "captcha_failed"
    assert start(fn, captcha=captcha.token(provider)).status == 202


@pytest.mark.parametrize("fault", ["slow", "broken", "down"])
def test_an_unavailable_provider_fails_closed(fn, captcha, provider, emulator, fault):
    token = captcha.token(provider)
    if fault == "slow":
        captcha.server.delay_s = 1.5
    elif fault == "broken":
        captcha.server.broken = True
    else:
        captcha.server.stop()
    reply = start(fn, captcha=token)
    assert reply.status == 503
    assert reply.code == "captcha_unavailable"
    assert "Retry-After" in reply.headers
    assert emulator.messages() == []


def test_fail_open_lets_the_request_on_and_says_so_in_the_log(
    start_function, base_env, captcha, emulator, capsys
):
    fn = start_function(
        {**base_env, **provider_env("turnstile", captcha), "CAPTCHA_FAIL_OPEN": "1"}
    )
    captcha.server.broken = True
    assert start(fn, captcha="anything").status == 202
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if '"request"' in x]
    assert lines[-1]["captcha"] == "fail_open"
    # A refusal is still a refusal: fail-open is for outages only.
    captcha.server.broken = False
    assert start(fn, captcha="forged").code == "captcha_failed"


def test_a_wrong_secret_is_a_config_error_not_the_visitors_fault(
    start_function, base_env, captcha, emulator
):
    fn = start_function(
        {**base_env, **provider_env("hcaptcha", captcha), "CAPTCHA_SECRET": "not-the-secret"}
    )
    reply = start(fn, captcha=captcha.token("hcaptcha"))
    assert reply.status == 500
    assert reply.code == "config_error"
    assert reply.body["error"]["variables"] == ["CAPTCHA_SECRET"]


def test_aliyun_signs_with_the_functions_role_without_keys(
    start_function, base_env, captcha, emulator
):
    # The stand-in knows only the role's STS key, bound to its security token.
    captcha.server.verifier = Verifier({STS_KEY_ID: KeyPair(STS_KEY_SECRET, STS_TOKEN)}, time.time)
    env = {**base_env, **provider_env("aliyun", captcha)}
    for name in ("CAPTCHA_ACCESS_KEY_ID", "CAPTCHA_ACCESS_KEY_SECRET"):
        env.pop(name)
    role = Credentials(STS_KEY_ID, STS_KEY_SECRET, STS_TOKEN)
    fn = start_function(env, Context(credentials=role))
    assert start(fn, captcha=captcha.token("aliyun")).status == 202


def test_aliyun_with_a_wrong_key_is_a_config_error(start_function, base_env, captcha):
    env = {**base_env, **provider_env("aliyun", captcha), "CAPTCHA_ACCESS_KEY_SECRET": "wrong"}
    reply = start(start_function(env), captcha=captcha.token("aliyun"))
    assert reply.status == 500
    assert reply.code == "config_error"


def test_send_needs_no_human_check(start_function, base_env, captcha, emulator):
    fn = start_function(
        {**base_env, **provider_env("turnstile", captcha), "SEND_TOKENS": SEND_TOKEN}
    )
    body = {"to": TO, "type": "SignIn", "payload": {"code": "123456"}}
    assert fn.send(body).status == 200


@pytest.mark.parametrize(
    ("extra", "variable"),
    [
        ({"CAPTCHA_PROVIDER": "recaptcha"}, "CAPTCHA_PROVIDER"),
        ({"CAPTCHA_PROVIDER": "turnstile"}, "CAPTCHA_SECRET"),
        ({"CAPTCHA_PROVIDER": "aliyun"}, "CAPTCHA_SCENE_ID"),
        (
            {"CAPTCHA_PROVIDER": "aliyun", "CAPTCHA_SCENE_ID": "s", "CAPTCHA_ACCESS_KEY_ID": "k"},
            "CAPTCHA_ACCESS_KEY_SECRET",
        ),
        (
            {"CAPTCHA_PROVIDER": "hcaptcha", "CAPTCHA_SECRET": "s", "CORS_ALLOW_ORIGINS": ""},
            "CAPTCHA_HOSTNAMES",
        ),
        (
            {"CAPTCHA_PROVIDER": "turnstile", "CAPTCHA_SECRET": "s", "CAPTCHA_TIMEOUT_MS": "0"},
            "CAPTCHA_TIMEOUT_MS",
        ),
        (
            {"CAPTCHA_PROVIDER": "turnstile", "CAPTCHA_SECRET": "s", "CAPTCHA_FAIL_OPEN": "true"},
            "CAPTCHA_FAIL_OPEN",
        ),
        (
            {
                "CAPTCHA_PROVIDER": "aliyun",
                "CAPTCHA_SCENE_ID": "s",
                "CAPTCHA_REGION": "cn-hangzhou",
            },
            "CAPTCHA_REGION",
        ),
        (
            {"CAPTCHA_PROVIDER": "turnstile", "CAPTCHA_SECRET": "s", "CAPTCHA_ENDPOINT": "ftp://x"},
            "CAPTCHA_ENDPOINT",
        ),
    ],
)
def test_a_bad_setting_is_a_config_error_naming_it(start_function, base_env, extra, variable):
    reply = start_function({**base_env, **extra}).call("GET", "/health")
    assert reply.status == 503
    assert variable in reply.body["error"]["variables"]


LOADED = (
    "import sys, types\n"
    "import index\n"
    "index.initialize(types.SimpleNamespace(request_id='r', credentials=None))\n"
    "assert index._api is not None and index._api.app is not None\n"
    "print(' '.join(sorted(sys.modules)))\n"
)
OPTIONAL = (
    "dmcode.human_check",
    "dmcode.domain_guard",
    "alibabacloud_captcha20230305",
    "dns.resolver",
    "disposable_email_domains",
)


def modules_loaded(env: dict[str, str]) -> set[str]:
    """The modules a fresh instance has loaded after `initialize`, with only `env`."""
    result = subprocess.run(
        [sys.executable, "-c", LOADED],
        env={"PYTHONPATH": str(FUNCTION_DIR), "DM_ACCOUNT_NAME": SENDER, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split()) & set(OPTIONAL)


def test_each_part_loads_only_when_configured():
    flow = {"CODE_SECRETS": "human-check-code-secret-0123456789abcdef", "STORE": "memory"}
    assert modules_loaded({"SEND_TOKENS": SEND_TOKEN}) == set()
    assert modules_loaded(flow) == set()
    turnstile = {"CAPTCHA_PROVIDER": "turnstile", "CAPTCHA_SECRET": "s", "CAPTCHA_HOSTNAMES": "a"}
    assert modules_loaded({**flow, **turnstile}) == {"dmcode.human_check"}
    aliyun = {"CAPTCHA_PROVIDER": "aliyun", "CAPTCHA_SCENE_ID": "s"}
    assert modules_loaded({**flow, **aliyun}) == {
        "dmcode.human_check",
        "alibabacloud_captcha20230305",
    }
    assert modules_loaded({**flow, "DOMAIN_CHECKS": "disposable"}) == {
        "dmcode.domain_guard",
        "disposable_email_domains",
    }
    assert modules_loaded({**flow, "DOMAIN_CHECKS": "mx"}) == {
        "dmcode.domain_guard",
        "dns.resolver",
    }
