"""`make run`'s local runtime is configured from template.yml as `s deploy` resolves it,
so local runs and deploys cannot drift apart: the same name and region (the proof's
`iss`), entry points, timeouts, memory and variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from local import stack
from local.fc_runtime import template
from local.fc_runtime.__main__ import config_from, parser

ROOT = Path(__file__).resolve().parent.parent
DEV_ENV = {
    "DM_ACCOUNT_NAME": stack.DEV_SENDER,
    "SEND_TOKENS": stack.DEV_SEND_TOKEN,
    "STORE": "memory",
}


@pytest.fixture
def no_deploy_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DEPLOY_REGION", "DEPLOY_FUNCTION_NAME", "DEPLOY_RUNTIME"):
        monkeypatch.delenv(name, raising=False)


def test_the_local_function_is_the_deployed_one(spec_tools, no_deploy_variables):
    options = stack.function_options(DEV_ENV)
    config = config_from(parser().parse_args(["--code-dir", str(ROOT / "function"), *options]))
    props = template.fc3_props(DEV_ENV)

    assert (config.function, config.region) == ("dm-verification-code", "cn-hangzhou")
    assert (config.handler, config.initializer) == ("index.handler", "index.initialize")
    assert config.timeout == props["timeout"]
    assert config.init_timeout == props["instanceLifecycleConfig"]["initializer"]["timeout"]
    assert config.memory == props["memorySize"]
    # Every variable the template passes, unset ones as the empty string FC gets.
    assert set(config.env) == set(props["environmentVariables"])
    assert config.env["STORE"] == "memory"
    assert config.env["DM_TAG_NAME"] == ""


def test_a_deploying_shell_name_and_region_reach_the_local_function(
    spec_tools, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("DEPLOY_REGION", "eu-central-1")
    monkeypatch.setenv("DEPLOY_FUNCTION_NAME", "mailer-eu")
    options = stack.function_options(DEV_ENV)
    config = config_from(parser().parse_args(["--code-dir", str(ROOT / "function"), *options]))
    assert (config.function, config.region) == ("mailer-eu", "eu-central-1")


def test_without_the_parser_the_identity_is_still_the_templates(spec_tools, no_deploy_variables):
    props = template.fc3_props(DEV_ENV)
    assert (props["functionName"], props["region"]) == (stack.FUNCTION_NAME, stack.FUNCTION_REGION)
