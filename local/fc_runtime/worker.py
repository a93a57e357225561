"""One FC instance: loads the function by handler path and runs it, one request at a time.

Run as a script (`python worker.py READ_FD WRITE_FD`), never imported by the function, so
that the code directory is first on `sys.path` and nothing from this repository is
importable from the function, as on FC. Messages on the two pipes are length-prefixed JSON;
the function's own stdout and stderr stay the instance's log, as on FC.
"""

from __future__ import annotations

import base64
import contextlib
import importlib
import json
import logging
import os
import struct
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

HEADER = struct.Struct(">I")


@dataclass
class Credentials:
    access_key_id: str
    access_key_secret: str
    security_token: str


@dataclass
class FunctionMeta:
    name: str
    handler: str
    memory: int
    timeout: float
    initializer: str
    initialization_timeout: float


@dataclass
class ServiceMeta:
    name: str
    log_project: str
    log_store: str
    qualifier: str
    version_id: str


@dataclass
class Tracing:
    span_context: str
    jaeger_endpoint: str
    span_baggages: dict[str, str]
    parent_span_id: str


@dataclass
class FCContext:
    """The context FC's Python runtimes pass to `initialize` and `handler`."""

    account_id: str
    request_id: str
    credentials: Credentials
    function: FunctionMeta
    service: ServiceMeta
    region: str
    tracing: Tracing
    logger: logging.Logger

    # FC's python runtime spells it this way.
    def getLogger(self) -> logging.Logger:
        return self.logger


class RequestIdFilter(logging.Filter):
    """Stamps log records with the current request id, as FC's runtime logger does."""

    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = self.request_id
        return True


def read_exact(fd: int, size: int) -> bytes | None:
    chunks: list[bytes] = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def receive(fd: int) -> dict[str, Any] | None:
    head = read_exact(fd, HEADER.size)
    if head is None:
        return None
    body = read_exact(fd, HEADER.unpack(head)[0])
    if body is None:
        return None
    message: dict[str, Any] = json.loads(body)
    return message


def send(fd: int, message: dict[str, Any]) -> None:
    body = json.dumps(message).encode()
    data = HEADER.pack(len(body)) + body
    while data:
        data = data[os.write(fd, data) :]


def error_body(exc: BaseException, skip: int = 1) -> dict[str, Any]:
    """FC's unhandled-error body: the exception and the stack below the runtime's own frames."""
    tb: TracebackType | None = exc.__traceback__
    for _ in range(skip):
        if tb is not None:
            tb = tb.tb_next
    frames = traceback.extract_tb(tb)
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "stackTrace": [
            [f'File "{f.filename}"', f"line {f.lineno}", f"in {f.name}", f.line or ""]
            for f in frames
        ],
    }


def load(path: str) -> Callable[..., Any]:
    """Resolve `module.function` (the module may sit in a sub-directory: `src/index.handler`)."""
    module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise ValueError(f"Invalid handler '{path}': expected 'module.function'")
    module = importlib.import_module(module_name.replace("/", "."))
    target = getattr(module, attr, None)
    if not callable(target):
        raise AttributeError(f"Handler '{attr}' is missing on module '{module_name}'")
    return target  # type: ignore[no-any-return]


def encode_result(value: Any) -> dict[str, Any]:
    """Carry the handler's return value to the runtime without losing its type."""
    if value is None:
        return {"kind": "none"}
    if isinstance(value, (bytes, bytearray)):
        return {"kind": "bytes", "value": base64.b64encode(value).decode()}
    if isinstance(value, str):
        return {"kind": "str", "value": value}
    return {"kind": "json", "value": json.dumps(value)}


class Instance:
    def __init__(self, meta: dict[str, Any]) -> None:
        self.meta = meta
        self.handler: Callable[..., Any] | None = None
        self.log_filter = RequestIdFilter()
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(request_id)s [%(levelname)s] %(message)s")
        )
        handler.addFilter(self.log_filter)
        root = logging.getLogger()
        root.handlers = [handler]
        root.setLevel(logging.INFO)
        self.logger = logging.getLogger("fc")

    def context(self, request_id: str) -> FCContext:
        meta = self.meta
        self.log_filter.request_id = request_id
        return FCContext(
            account_id=meta["accountId"],
            request_id=request_id,
            credentials=Credentials(**meta["credentials"]),
            function=FunctionMeta(**meta["function"]),
            service=ServiceMeta(**meta["service"]),
            region=meta["region"],
            tracing=Tracing(
                span_context="", jaeger_endpoint="", span_baggages={}, parent_span_id=""
            ),
            logger=self.logger,
        )

    def initialize(self, request_id: str) -> dict[str, Any]:
        function = self.meta["function"]
        try:
            self.handler = load(function["handler"])
            if function["initializer"]:
                initializer = load(function["initializer"])
                initializer(self.context(request_id))
        except Exception as exc:
            return {"ok": False, "error": error_body(exc)}
        return {"ok": True}

    def invoke(self, request_id: str, event: bytes) -> dict[str, Any]:
        assert self.handler is not None
        print(f"FC Invoke Start RequestId: {request_id}", flush=True)
        try:
            result = encode_result(self.handler(event, self.context(request_id)))
        except Exception as exc:
            reply: dict[str, Any] = {"ok": False, "error": error_body(exc)}
        else:
            reply = {"ok": True, "result": result}
        print(f"FC Invoke End RequestId: {request_id}", flush=True)
        return reply


def main() -> None:
    read_fd, write_fd = int(sys.argv[1]), int(sys.argv[2])
    instance: Instance | None = None
    while (message := receive(read_fd)) is not None:
        if message["op"] == "init":
            meta = message["meta"]
            sys.path[0] = meta["codeDir"]
            instance = Instance(meta)
            send(write_fd, instance.initialize(message["requestId"]))
        elif instance is not None:
            event = base64.b64decode(message["event"])
            send(write_fd, instance.invoke(message["requestId"], event))


if __name__ == "__main__":
    # Ctrl-C on `make run` reaches the whole process group; the runtime ends its workers.
    with contextlib.suppress(KeyboardInterrupt):
        main()
