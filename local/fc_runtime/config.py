"""What one local function is: its code, entry points, limits, identity and environment."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

# FC's own limits for a synchronous HTTP-trigger call.
MAX_HEADER_BYTES = 8 * 1024
MAX_PATH_BYTES = 4 * 1024
MAX_BODY_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class Credentials:
    """The key pair FC hands the function (its role's STS credentials in the cloud)."""

    access_key_id: str = ""
    access_key_secret: str = ""
    security_token: str = ""


@dataclass(frozen=True)
class RuntimeConfig:
    """Options of one local runtime; defaults mirror a small FC 3.0 python function.

    `python` runs the instances (the runtime's interpreter: python3.12 or python3.10);
    `isolated` keeps the machine's site-packages off `sys.path`, as on FC, where only the
    code directory, PYTHONPATH and the standard library are there.
    """

    code_dir: Path
    handler: str = "index.handler"
    initializer: str | None = None
    timeout: float = 3.0
    initialization_timeout: float | None = None
    memory: int = 512
    env: dict[str, str] = field(default_factory=dict)
    instances: int = 1
    service: str = "local"
    function: str = "main"
    region: str = "cn-hangzhou"
    account_id: str = "1234567890123456"
    credentials: Credentials = Credentials()
    # Key pairs the FC API paths (2016-08-15 and 2023-03-30) accept: AccessKeyId -> secret.
    api_keys: dict[str, str] = field(default_factory=dict)
    max_body_bytes: int = MAX_BODY_BYTES
    python: str = sys.executable
    isolated: bool = False

    @property
    def init_timeout(self) -> float:
        return self.initialization_timeout or self.timeout


def parse_assignment(text: str) -> tuple[str, str]:
    """Split `NAME=VALUE`; the value may itself contain `=`."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise ValueError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def read_env_file(path: Path) -> dict[str, str]:
    """Read a dotenv file (python-dotenv's grammar: `NAME=VALUE` lines, `#` comments,
    `export`, quotes). Nothing is interpolated: the function sees only what the file
    says, never the developer's own environment. A name without `=` is a ValueError."""
    values = dotenv_values(path, interpolate=False, encoding="utf-8")
    missing = [name for name, value in values.items() if value is None]
    if missing:
        raise ValueError(f"{path}: expected NAME=VALUE, got {', '.join(missing)} without a value")
    return {name: value for name, value in values.items() if value is not None}


def parse_api_key(text: str) -> tuple[str, str]:
    """Split `ID:SECRET`."""
    key_id, sep, secret = text.partition(":")
    if not sep or not key_id or not secret:
        raise ValueError("expected ID:SECRET")
    return key_id, secret
