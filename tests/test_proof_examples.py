"""The README's proof-verification snippets, run as written against the real function.

A backend copies these; if the function's proof or JWKS drifted from them, this fails.
"""

import json
import re
import subprocess
import textwrap
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.emulator import DEV_KEY_ID, DEV_KEY_SECRET, SENDER

ROOT = Path(__file__).resolve().parents[1]
SPEC_DIR = ROOT / "tests" / "spec"
README_URL = "https://mail.example.com"
README_ISSUER = "fc:cn-hangzhou:dm-verification-code"


def readme_block(language: str, marker: str) -> str:
    text = (ROOT / "README.md").read_text()
    blocks = [m.group(1) for m in re.finditer(rf"```{language}\n(.*?)```", text, re.S)]
    (block,) = [b for b in blocks if marker in b]
    return block


@pytest.fixture
def proof(start_runtime, emulator):
    runtime = start_runtime(
        env={
            "DM_ACCOUNT_NAME": SENDER,
            "DM_ENDPOINT": emulator.url,
            "DM_ACCESS_KEY_ID": DEV_KEY_ID,
            "DM_ACCESS_KEY_SECRET": DEV_KEY_SECRET,
            "CODE_SECRETS": "proof-example-secret-0123456789abcdef",
            "STORE": "memory",
        },
        function="dm-verification-code",
    )
    started = post(runtime.url + "/verifications", {"to": "reader@example.com"})
    (message,) = emulator.sent(to="reader@example.com")
    match = re.search(r"\b(\d{6})\b", message.text or "")
    assert match is not None
    code = match.group(1)
    checked = post(runtime.url + "/verifications/check", {"token": started["token"], "code": code})
    return runtime.url, checked["proof"]


def post(url: str, body: dict[str, str]) -> Any:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_python_snippet_verifies_the_proof(proof):
    url, token = proof
    source = readme_block("python", "PyJWKClient").replace(README_URL, url)
    namespace: dict[str, Any] = {}
    exec(compile(source, "README.md", "exec"), namespace)
    assert namespace["verified_address"](token) == "reader@example.com"


def test_node_snippet_verifies_the_proof(proof, spec_tools):
    url, token = proof
    source = readme_block("js", "createRemoteJWKSet").replace(README_URL, url)
    script = SPEC_DIR / "proof-example.test.mjs"
    script.write_text(
        source
        + textwrap.dedent(
            f"""
            console.log(await verifiedAddress({json.dumps(token)}));
            """
        )
    )
    try:
        result = subprocess.run(
            ["node", str(script)], capture_output=True, text=True, timeout=60, check=False
        )
    finally:
        script.unlink()
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "reader@example.com"
