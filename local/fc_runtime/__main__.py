"""`python -m local.fc_runtime`: serve a function's code directory as FC 3.0 would."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from local.fc_runtime.config import (
    Credentials,
    RuntimeConfig,
    parse_api_key,
    parse_assignment,
    read_env_file,
)
from local.fc_runtime.runtime import Runtime
from local.fc_runtime.template import TemplateError, fc3_props, runtime_config


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m local.fc_runtime", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9000)
    p.add_argument("--code-dir", type=Path, default=Path("function"))
    p.add_argument(
        "--template",
        type=Path,
        help="configure from this template.yml's fc3 props as `s deploy` resolves them "
        "(handler, initializer, timeouts, memory, function name, region, environment), "
        "as `s local start` does; -e and --env-file are then the deploying shell's "
        "environment, and the options they set below are ignored",
    )
    p.add_argument("--handler", default="index.handler")
    p.add_argument("--initializer")
    p.add_argument("--env-file", type=Path, action="append", default=[])
    p.add_argument("-e", "--env", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("--timeout", type=float, default=3.0, help="seconds per request")
    p.add_argument("--initialization-timeout", type=float, help="seconds (default: --timeout)")
    p.add_argument("--memory", type=int, default=512, help="MB, reported to the function")
    p.add_argument("--instances", type=int, default=1)
    p.add_argument("--service", default="local")
    p.add_argument("--function", default="main")
    p.add_argument("--region", default="cn-hangzhou")
    p.add_argument("--account-id", default="1234567890123456")
    p.add_argument("--access-key-id", default="", help="the function's role credentials")
    p.add_argument("--access-key-secret", default="")
    p.add_argument("--security-token", default="")
    p.add_argument(
        "--role-credentials-from-env",
        action="store_true",
        help="take the role credentials from this process's ALIBABA_CLOUD_ACCESS_KEY_ID, "
        "_SECRET and _SECURITY_TOKEN (kept off the command line)",
    )
    p.add_argument(
        "--api-key",
        action="append",
        default=[],
        metavar="ID:SECRET",
        help="a key pair the FC API paths (2016-08-15, 2023-03-30) accept (repeatable)",
    )
    return p


def role_credentials(args: argparse.Namespace) -> Credentials:
    """What the function gets as `context.credentials`, as FC hands it the role's STS keys."""
    if args.role_credentials_from_env:
        return Credentials(
            os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_ID", ""),
            os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET", ""),
            os.environ.get("ALIBABA_CLOUD_SECURITY_TOKEN", ""),
        )
    return Credentials(args.access_key_id, args.access_key_secret, args.security_token)


def config_from(args: argparse.Namespace) -> RuntimeConfig:
    env: dict[str, str] = {}
    for path in args.env_file:
        env.update(read_env_file(path))
    env.update(parse_assignment(item) for item in args.env)
    if args.template is not None:
        return runtime_config(
            fc3_props(env, args.template),
            args.code_dir.resolve(),
            instances=args.instances,
            service=args.service,
            account_id=args.account_id,
            credentials=role_credentials(args),
            api_keys=dict(parse_api_key(item) for item in args.api_key),
        )
    return RuntimeConfig(
        code_dir=args.code_dir.resolve(),
        handler=args.handler,
        initializer=args.initializer,
        timeout=args.timeout,
        initialization_timeout=args.initialization_timeout,
        memory=args.memory,
        env=env,
        instances=args.instances,
        service=args.service,
        function=args.function,
        region=args.region,
        account_id=args.account_id,
        credentials=role_credentials(args),
        api_keys=dict(parse_api_key(item) for item in args.api_key),
    )


def main(argv: list[str] | None = None) -> None:
    p = parser()
    args = p.parse_args(argv)
    try:
        config = config_from(args)
    except (OSError, ValueError, TemplateError) as exc:
        p.error(str(exc))
    if not config.code_dir.is_dir():
        p.error(f"--code-dir {config.code_dir} is not a directory")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s fc-runtime %(message)s")
    runtime = Runtime(config, args.host, args.port).start()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(runtime.url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        runtime.stop()


if __name__ == "__main__":
    main()
