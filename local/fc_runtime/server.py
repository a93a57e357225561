"""The HTTP side: a keep-alive HTTP/1.1 server on loopback that hands requests to the gateway."""

from __future__ import annotations

import logging
import socket
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from local.fc_runtime.events import HttpRequest, new_request_id
from local.fc_runtime.gateway import Gateway, body_too_large
from local.fc_runtime.responses import Response, fc_error

log = logging.getLogger("fc_runtime")


class BodyTooLarge(Exception):
    pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    # Keep-alive clients hold threads open; stopping must not wait for them.
    block_on_close = False

    def __init__(self, address: tuple[str, int], gateway: Gateway, max_body: int) -> None:
        super().__init__(address, Handler)
        self.gateway = gateway
        self.max_body = max_body


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def setup(self) -> None:
        super().setup()
        # One write per response plus no Nagle: no 40 ms delayed-ACK stalls on keep-alive.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def dispatch(self) -> None:
        started = time.monotonic()
        request_id = new_request_id()
        path, _, query = self.path.partition("?")
        try:
            body = self.read_body()
        except BodyTooLarge:
            self.close_connection = True
            response = body_too_large(path, self.server.max_body, request_id)
        else:
            request = HttpRequest(
                method=self.command,
                path=path,
                query=query,
                headers=list(self.headers.items()),
                body=body,
                source_ip=self.client_address[0],
                protocol=self.request_version,
            )
            try:
                response = self.server.gateway.handle(request, request_id)
            except Exception:
                log.exception("request %s failed in the runtime", request_id)
                response = fc_error(500, "InternalServerError", "local runtime error")
        self.send(response, request_id)
        elapsed = (time.monotonic() - started) * 1000
        log.info("%s %s %d %.0fms %s", self.command, path, response.status, elapsed, request_id)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = dispatch

    def read_body(self) -> bytes:
        limit = self.server.max_body
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self.read_chunked(limit)
        length = int(self.headers.get("Content-Length") or 0)
        if length > limit:
            raise BodyTooLarge
        return self.rfile.read(length)

    def read_chunked(self, limit: int) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            size = int(self.rfile.readline(1024).split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(1024) not in {b"\r\n", b"\n", b""}:
                    pass
                return b"".join(chunks)
            total += size
            if total > limit:
                raise BodyTooLarge
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def send(self, response: Response, request_id: str) -> None:
        data = response.render(request_id, keep_alive=not self.close_connection)
        if self.command == "HEAD":
            data = data[: len(data) - len(response.body)]
        self.wfile.write(data)
        self.wfile.flush()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)
