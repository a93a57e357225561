"""template.yml as `s deploy` resolves it, and the local runtime configured from it (as
`s local start` does), so that local runs and deploys read the same function.

Resolution runs the real Serverless Devs parser (@serverless-devs/parse-spec, pinned in
tests/spec) through tests/spec/check-template.js, which also validates each fc3
resource's props against the fc3 component's schema (tests/spec/fc3/schema.json). It
runs in a scratch directory with only the environment given, so no developer's `.env`
or `~/.s` credentials take part.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from local.fc_runtime.config import RuntimeConfig

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yml"
SPEC_DIR = ROOT / "tests" / "spec"
CHECK_SCRIPT = SPEC_DIR / "check-template.js"
SCHEMA = SPEC_DIR / "fc3" / "schema.json"
# Where FC mounts the code directory; paths below it in the environment (PYTHONPATH)
# name the local code directory instead.
FC_CODE_MOUNT = "/code"


class TemplateError(Exception):
    """The template could not be resolved; the message carries the parser's output."""


def parser_available() -> bool:
    """True when node and tests/spec's node packages (`make node-deps`) are installed."""
    return shutil.which("node") is not None and (SPEC_DIR / "node_modules").is_dir()


def run_parser(
    text: str, env: Mapping[str, str], workdir: Path
) -> subprocess.CompletedProcess[str]:
    """Runs check-template.js on `text` in `workdir` with only `env` (and PATH).

    Exit code 0: every fc3 resource valid; 1: one is not; 2: the template could not be
    parsed (a required `${env('X')}` missing, say). stdout is
    `{"resources": [{name, component, props, valid?, errors?}]}`.
    """
    node = shutil.which("node")
    if node is None:
        raise TemplateError("node is missing: run make system-deps")
    (workdir / "template.yml").write_text(text, encoding="utf-8")
    return subprocess.run(
        [node, str(CHECK_SCRIPT), "template.yml", str(SCHEMA)],
        cwd=workdir,
        check=False,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workdir), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def fc3_props(env: Mapping[str, str], template: Path = TEMPLATE) -> dict[str, Any]:
    """The props `s deploy` would send for the template's fc3 resource, resolved with
    `env` as the deploying shell's environment. TemplateError when it cannot resolve,
    is invalid against the fc3 schema, or has not exactly one fc3 resource."""
    with tempfile.TemporaryDirectory(prefix="template-") as scratch:
        result = run_parser(template.read_text(encoding="utf-8"), env, Path(scratch))
    if result.returncode not in (0, 1):
        raise TemplateError(f"{template.name} could not be resolved: {result.stderr.strip()}")
    found = [r for r in json.loads(result.stdout)["resources"] if r["component"] == "fc3"]
    if len(found) != 1:
        raise TemplateError(f"{template.name} has {len(found)} fc3 resources, not one")
    (resource,) = found
    if not resource["valid"]:
        raise TemplateError(f"{template.name} is invalid: {'; '.join(resource['errors'])}")
    props: dict[str, Any] = resource["props"]
    return props


def function_environment(props: Mapping[str, Any], code_dir: Path) -> dict[str, str]:
    """The environment the props give the function, exactly (empty strings included),
    with paths under FC's /code mount pointing into `code_dir`."""
    env: dict[str, str] = {}
    for name, value in (props.get("environmentVariables") or {}).items():
        text = str(value)
        if name == "PYTHONPATH":
            text = os.pathsep.join(_mounted(part, code_dir) for part in text.split(os.pathsep))
        env[str(name)] = text
    return env


def _mounted(path: str, code_dir: Path) -> str:
    if path == FC_CODE_MOUNT or path.startswith(FC_CODE_MOUNT + "/"):
        return str(code_dir) + path[len(FC_CODE_MOUNT) :]
    return path


def runtime_config(props: Mapping[str, Any], code_dir: Path, **options: Any) -> RuntimeConfig:
    """A RuntimeConfig with what the props say: handler, initializer and its timeout,
    function timeout, memory, name, region and environment. `options` sets the rest
    (python, isolated, credentials ...) or overrides."""
    initializer = (props.get("instanceLifecycleConfig") or {}).get("initializer") or {}
    fields: dict[str, Any] = {
        "code_dir": code_dir,
        "handler": props["handler"],
        "initializer": initializer.get("handler") or None,
        "initialization_timeout": initializer.get("timeout"),
        "timeout": props.get("timeout", 3),
        "memory": props.get("memorySize", 128),
        "function": props["functionName"],
        "region": props["region"],
        "env": function_environment(props, code_dir),
    }
    fields.update(options)
    return RuntimeConfig(**fields)
