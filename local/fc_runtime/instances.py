"""FC instances as worker subprocesses: one request at a time each, killed when they overrun."""

from __future__ import annotations

import base64
import json
import os
import queue
import select
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local.fc_runtime.config import RuntimeConfig

WORKER = Path(__file__).with_name("worker.py")
HEADER_SIZE = 4


@dataclass(frozen=True)
class Outcome:
    """What became of one invocation: a result, or an unhandled error (a timeout is one)."""

    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


def seconds(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def function_env(config: RuntimeConfig) -> dict[str, str]:
    """The instance's environment: FC's own variables, then the function's."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": "/tmp",  # noqa: S108 - FC's only writable directory, and its HOME
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "FC_FUNC_CODE_PATH": str(config.code_dir),
        "FC_FUNCTION_NAME": config.function,
        "FC_FUNCTION_HANDLER": config.handler,
        "FC_FUNCTION_MEMORY_SIZE": str(config.memory),
        "FC_REGION": config.region,
        "FC_ACCOUNT_ID": config.account_id,
        "FC_SERVICE_NAME": config.service,
    }
    if config.initializer:
        env["FC_FUNCTION_INITIALIZER"] = config.initializer
    creds = config.credentials
    for name, value in (
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", creds.access_key_id),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", creds.access_key_secret),
        ("ALIBABA_CLOUD_SECURITY_TOKEN", creds.security_token),
    ):
        if value:
            env[name] = value
    env.update(config.env)
    return env


def instance_meta(config: RuntimeConfig) -> dict[str, Any]:
    creds = config.credentials
    return {
        "codeDir": str(config.code_dir),
        "accountId": config.account_id,
        "region": config.region,
        "credentials": {
            "access_key_id": creds.access_key_id,
            "access_key_secret": creds.access_key_secret,
            "security_token": creds.security_token,
        },
        "function": {
            "name": config.function,
            "handler": config.handler,
            "memory": config.memory,
            "timeout": seconds(config.timeout),
            "initializer": config.initializer or "",
            "initialization_timeout": seconds(config.init_timeout),
        },
        "service": {
            "name": config.service,
            "log_project": "",
            "log_store": "",
            "qualifier": "LATEST",
            "version_id": "",
        },
    }


class WorkerGone(Exception):
    """The worker closed its pipe: it exited or was killed."""


class DeadlineExceeded(Exception):
    pass


class Instance:
    """One worker process, started on first use and replaced after a timeout or a crash."""

    def __init__(self, config: RuntimeConfig) -> None:
        self.config = config
        self.process: subprocess.Popen[bytes] | None = None
        self.to_worker = -1
        self.from_worker = -1

    def invoke(self, request_id: str, event: bytes) -> Outcome:
        if self.process is None:
            outcome = self._start(request_id)
            if outcome is not None:
                return outcome
        message = {
            "op": "invoke",
            "requestId": request_id,
            "event": base64.b64encode(event).decode(),
        }
        try:
            reply = self._call(message, self.config.timeout)
        except DeadlineExceeded:
            self.close()
            limit = seconds(self.config.timeout)
            return Outcome(error={"errorMessage": f"Function timed out after {limit} seconds"})
        except WorkerGone:
            return self._crashed()
        if reply["ok"]:
            return Outcome(result=reply["result"])
        return Outcome(error=reply["error"])

    def _start(self, request_id: str) -> Outcome | None:
        """Start the worker and run the initializer; an Outcome means it failed."""
        worker_in, self.to_worker = os.pipe()
        self.from_worker, worker_out = os.pipe()
        self.process = subprocess.Popen(
            [
                self.config.python,
                # No `site`: nothing of this machine's site-packages, only the code
                # directory, PYTHONPATH and the standard library.
                *(["-S"] if self.config.isolated else []),
                str(WORKER),
                str(worker_in),
                str(worker_out),
            ],
            cwd=self.config.code_dir,
            env=function_env(self.config),
            pass_fds=(worker_in, worker_out),
        )
        os.close(worker_in)
        os.close(worker_out)
        message = {"op": "init", "requestId": request_id, "meta": instance_meta(self.config)}
        try:
            reply = self._call(message, self.config.init_timeout)
        except DeadlineExceeded:
            self.close()
            limit = seconds(self.config.init_timeout)
            text = f"Function initialization timed out after {limit} seconds"
            return Outcome(error={"errorMessage": text})
        except WorkerGone:
            return self._crashed()
        if not reply["ok"]:
            self.close()
            return Outcome(error=reply["error"])
        return None

    def _crashed(self) -> Outcome:
        self.close()
        message = "Process exited unexpectedly before completing request"
        return Outcome(error={"errorMessage": message})

    def _call(self, message: dict[str, Any], timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        body = json.dumps(message).encode()
        try:
            data = len(body).to_bytes(HEADER_SIZE, "big") + body
            while data:
                data = data[os.write(self.to_worker, data) :]
        except BrokenPipeError:
            raise WorkerGone from None
        size = int.from_bytes(self._read(HEADER_SIZE, deadline), "big")
        reply: dict[str, Any] = json.loads(self._read(size, deadline))
        return reply

    def _read(self, size: int, deadline: float) -> bytes:
        chunks: list[bytes] = []
        while size:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self.from_worker], [], [], remaining)[0]:
                raise DeadlineExceeded
            chunk = os.read(self.from_worker, min(size, 1 << 20))
            if not chunk:
                raise WorkerGone
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def kill(self) -> None:
        """Stop the worker at once; a request in flight then sees it gone and cleans up."""
        if self.process is not None:
            self.process.kill()

    def close(self) -> None:
        if self.process is None:
            return
        self.process.kill()
        self.process.wait()
        os.close(self.to_worker)
        os.close(self.from_worker)
        self.process = None


class Pool:
    """N instances; each request takes an idle one, so requests are serialized per instance."""

    def __init__(self, config: RuntimeConfig) -> None:
        self.instances = [Instance(config) for _ in range(max(1, config.instances))]
        self.idle: queue.Queue[Instance] = queue.Queue()
        for instance in self.instances:
            self.idle.put(instance)

    def invoke(self, request_id: str, event: bytes) -> Outcome:
        instance = self.idle.get()
        try:
            return instance.invoke(request_id, event)
        finally:
            self.idle.put(instance)

    def close(self) -> None:
        idle: list[Instance] = []
        while not self.idle.empty():
            idle.append(self.idle.get_nowait())
        for instance in self.instances:
            if instance in idle:
                instance.close()
            else:
                instance.kill()
        for instance in idle:
            self.idle.put(instance)
