"""HTTP responses as FC writes them, and FC's error shapes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from typing import Any

# FC's `x-fc-error-type` values: a refused request, a function that failed.
COMMON_ERROR = "FcCommonError"
UNHANDLED_ERROR = "UnhandledInvocationError"


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def render(self, request_id: str, keep_alive: bool) -> bytes:
        """Status line, headers and body as one buffer, so it goes out in one write."""
        try:
            reason = HTTPStatus(self.status).phrase
        except ValueError:
            reason = "Unknown"
        lines = [f"HTTP/1.1 {self.status} {reason}"]
        lines += [f"{name}: {value}" for name, value in self.headers]
        lines += [
            f"X-Fc-Request-Id: {request_id}",
            f"Date: {formatdate(usegmt=True)}",
            f"Content-Length: {len(self.body)}",
            f"Connection: {'keep-alive' if keep_alive else 'close'}",
        ]
        head = "\r\n".join(lines) + "\r\n\r\n"
        return head.encode("latin-1") + self.body


def json_response(
    status: int, payload: Any, headers: list[tuple[str, str]] | None = None
) -> Response:
    body = json.dumps(payload).encode()
    return Response(status, [("Content-Type", "application/json"), *(headers or [])], body)


def fc_error(status: int, code: str, message: str) -> Response:
    """A request FC refuses before it reaches the function (FC API error body)."""
    return json_response(
        status,
        {"ErrorCode": code, "ErrorMessage": message},
        [("X-Fc-Error-Type", COMMON_ERROR)],
    )


def fc3_error(status: int, code: str, message: str, request_id: str) -> Response:
    """A request the FC 3.0 (2023-03-30) API refuses: its error body names the request."""
    return json_response(
        status,
        {"Code": code, "Message": message, "RequestId": request_id},
        [("X-Fc-Error-Type", COMMON_ERROR)],
    )


def unhandled(status: int, error: dict[str, Any]) -> Response:
    """The function failed: it raised, crashed or ran out of time."""
    return json_response(status, error, [("X-Fc-Error-Type", UNHANDLED_ERROR)])
