"""The plain request and response the application speaks, free of any FC detail."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Request:
    method: str
    path: str
    # Names lowercased; repeated headers joined with ", " as FC does.
    headers: dict[str, str]
    body: bytes
    request_id: str
    source_ip: str = ""
    query: dict[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        return cls(
            status, {"Content-Type": "application/json; charset=utf-8", **(headers or {})}, body
        )
