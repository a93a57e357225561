"""Serves the demo page on its own origin, so the browser enforces CORS for real."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
_CLIENT = _HERE.parent.parent / "client" / "dmcode.js"


class _Handler(BaseHTTPRequestHandler):
    server: DemoServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path in ("/", "/index.html"):
            self._reply(200, "text/html; charset=utf-8", (_HERE / "index.html").read_bytes())
        elif path == "/dmcode.js":
            self._reply(200, "text/javascript; charset=utf-8", _CLIENT.read_bytes())
        elif path == "/config.json":
            self._reply(200, "application/json", json.dumps(self.server.config).encode())
        else:
            self._reply(404, "text/plain; charset=utf-8", b"not found\n")

    def _reply(self, status: int, content_type: str, body: bytes) -> None:
        head = (
            f"HTTP/1.1 {status} {'OK' if status == 200 else 'Not Found'}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            "Cache-Control: no-store\r\n\r\n"
        ).encode()
        self.wfile.write(head + body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class DemoServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, host: str, port: int, api: str, inbox: str, captcha: dict[str, str] | None = None
    ) -> None:
        """`captcha`: `{"provider", "site", "url"}` of the local captcha stand-in, when the
        function runs with the human check on; the page then shows its widget."""
        super().__init__((host, port), _Handler)
        self.config: dict[str, object] = {
            "api": api.rstrip("/"),
            "inbox": inbox.rstrip("/"),
            "captcha": captcha,
        }
        self.url = f"http://{host}:{self.server_port}"

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, addr = super().get_request()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn, addr

    def start(self) -> None:
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
