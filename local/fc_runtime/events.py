"""The FC 3.0 HTTP-trigger mapping: request -> event JSON, handler result -> response."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl, unquote

from local.fc_runtime.config import MAX_HEADER_BYTES
from local.fc_runtime.responses import Response

# Hop-by-hop headers belong to the connection to FC, not to the function.
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
}
# Headers a function may not set on its response: FC writes them itself.
RESERVED_RESPONSE = {"connection", "content-length", "date", "keep-alive", "server"}
TEXT_TYPES = {
    "application/json",
    "application/javascript",
    "application/xml",
    "application/x-www-form-urlencoded",
}


@dataclass(frozen=True)
class HttpRequest:
    """One request as it arrived: path still URL-encoded, headers in arrival order."""

    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str
    protocol: str = "HTTP/1.1"

    def header(self, name: str) -> str:
        """All values of a header, joined by commas as FC joins them."""
        return ",".join(v for k, v in self.headers if k.lower() == name.lower())


def new_request_id() -> str:
    """FC 3.0's request id shape: `1-<epoch seconds, hex>-<random>`."""
    now = int(datetime.now(timezone.utc).timestamp())
    return f"1-{now:08x}-{secrets.token_hex(4)}-{secrets.token_hex(6)}"


def canonical_name(name: str) -> str:
    """FC normalises header names as Go's net/http does: `accept-encoding` -> `Accept-Encoding`."""
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def is_text(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media.startswith("text/") or media in TEXT_TYPES or media.endswith(("+json", "+xml"))


def encode_body(body: bytes, content_type: str) -> tuple[str, bool]:
    """Text bodies pass as strings; anything binary (or not UTF-8) is base64."""
    if not body:
        return "", False
    if is_text(content_type):
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(body).decode(), True


def joined(pairs: list[tuple[str, str]]) -> dict[str, str]:
    values: dict[str, list[str]] = {}
    for key, value in pairs:
        values.setdefault(key, []).append(value)
    return {key: ",".join(items) for key, items in values.items()}


def http_event(
    request: HttpRequest,
    raw_path: str,
    request_id: str,
    account_id: str,
    drop_fc_headers: bool = False,
) -> bytes:
    """The event FC 3.0 passes to a built-in runtime's handler for an HTTP call."""
    now = datetime.now(timezone.utc)
    host = request.header("host")
    headers = [
        (canonical_name(k), v)
        for k, v in request.headers
        if k.lower() not in HOP_BY_HOP
        and k.lower() != "host"
        and not (drop_fc_headers and k.lower().startswith("x-fc-"))
    ]
    body, is_base64 = encode_body(request.body, request.header("content-type"))
    event = {
        "version": "v1",
        "rawPath": raw_path,
        "body": body,
        "isBase64Encoded": is_base64,
        "headers": joined(headers),
        "queryParameters": joined(parse_qsl(request.query, keep_blank_values=True)),
        "requestContext": {
            "accountId": account_id,
            "domainName": host,
            "domainPrefix": host.split(".", 1)[0],
            "requestId": request_id,
            "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "timeEpoch": str(int(now.timestamp() * 1000)),
            "http": {
                "method": request.method,
                "path": unquote(raw_path),
                "protocol": request.protocol,
                "sourceIp": request.source_ip,
                "userAgent": request.header("user-agent"),
            },
        },
    }
    return json.dumps(event).encode()


class BadResponse(Exception):
    """The handler's return value cannot become an HTTP response."""


def result_bytes(result: dict[str, Any]) -> bytes:
    """The handler's return value as the bytes FC's runtime hands back."""
    kind = result["kind"]
    if kind == "none":
        return b""
    if kind == "bytes":
        return base64.b64decode(result["value"])
    value: str = result["value"]
    return value.encode()


def http_response(result: dict[str, Any]) -> Response:
    """Map a handler's return value to the HTTP response, as FC 3.0 does.

    A JSON object with `statusCode` is a response struct; anything else is a 200 whose
    body is the value itself (JSON text for a dict or list).
    """
    payload = result_bytes(result)
    try:
        parsed = json.loads(payload)
    except ValueError:
        return Response(200, [], payload)
    if not isinstance(parsed, dict) or "statusCode" not in parsed:
        return Response(200, [("Content-Type", "application/json")], payload)
    return response_struct(parsed)


def response_struct(struct: dict[str, Any]) -> Response:
    status = struct["statusCode"]
    if not isinstance(status, int) or not 100 <= status <= 599:
        raise BadResponse(f"invalid statusCode {status!r}")
    headers: list[tuple[str, str]] = []
    for name, value in (struct.get("headers") or {}).items():
        if name.lower() in RESERVED_RESPONSE or name.lower().startswith("x-fc-"):
            continue
        for item in value if isinstance(value, list) else [value]:
            text = str(item)
            if "\r" in text or "\n" in text or "\r" in name or "\n" in name:
                raise BadResponse(f"invalid value for response header {name!r}")
            headers.append((name, text))
    if sum(len(k) + len(v) for k, v in headers) > MAX_HEADER_BYTES:
        raise BadResponse("response headers exceed 8 KB")
    body = struct.get("body") or ""
    if not isinstance(body, str):
        raise BadResponse("body must be a string")
    if struct.get("isBase64Encoded"):
        try:
            return Response(status, headers, base64.b64decode(body, validate=True))
        except binascii.Error:
            raise BadResponse("body is not valid base64") from None
    return Response(status, headers, body.encode())
