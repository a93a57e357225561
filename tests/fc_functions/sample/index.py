"""A sample FC 3.0 function for the runtime's tests: it reports what it was given.

Routes (by rawPath): /echo returns the event and context, /sleep?seconds=N sleeps,
/boom raises, /exit kills its own process, /state returns the instance's pid and how
often `initialize` ran, /binary returns bytes as a base64 response, /plain returns a
str, /send mimics the real function's send (Bearer `SAMPLE_TOKEN`). A direct
invocation (no requestContext) is a send, answered as a JSON string.
"""

import base64
import json
import os
import time
from typing import Any

STATE: dict[str, Any] = {"initialized": 0}
PREFIXES = ("FC_", "ALIBABA_", "SAMPLE_")


def initialize(context: Any) -> None:
    if os.environ.get("SAMPLE_INIT_FAIL"):
        raise RuntimeError("initializer refused to start")
    time.sleep(float(os.environ.get("SAMPLE_INIT_SLEEP", "0")))
    STATE["initialized"] += 1
    STATE["init_request_id"] = context.request_id


def describe(context: Any) -> dict[str, Any]:
    return {
        "request_id": context.request_id,
        "account_id": context.account_id,
        "region": context.region,
        "credentials": vars(context.credentials),
        "function": vars(context.function),
        "service": vars(context.service),
        "tracing": vars(context.tracing),
        "env": {k: v for k, v in os.environ.items() if k.startswith(PREFIXES)},
        "cwd": os.getcwd(),
    }


def send(message: dict[str, Any], request_id: str) -> tuple[int, dict[str, Any]]:
    if not message.get("to") or not message.get("payload", {}).get("code"):
        return 400, {
            "error": {
                "code": "invalid_request",
                "message": "to and code are required",
                "requestId": request_id,
            }
        }
    if message["to"].startswith("fail@"):
        return 502, {
            "error": {
                "code": "upstream_error",
                "message": "DM rejected the call",
                "requestId": request_id,
                "dmCode": "InvalidAccount",
            }
        }
    return 200, {
        "ok": True,
        "requestId": request_id,
        "envId": "600000001",
        "dmRequestId": "DM-" + message["payload"]["code"],
    }


def respond(status: int, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(payload),
        "isBase64Encoded": False,
    }


def handler(event: bytes, context: Any) -> Any:
    request = json.loads(event)
    if "requestContext" not in request:
        return json.dumps(send(request, context.request_id)[1])
    path = request["rawPath"]
    if path.startswith("/echo"):
        return respond(
            200, {"event": request, "context": describe(context), "eventType": type(event).__name__}
        )
    if path == "/sleep":
        time.sleep(float(request["queryParameters"].get("seconds", "10")))
        return respond(200, {"slept": True, "pid": os.getpid()})
    if path == "/boom":
        raise ValueError("boom went the handler")
    if path == "/exit":
        os._exit(3)
    if path == "/state":
        return respond(200, {"pid": os.getpid(), **STATE})
    if path == "/binary":
        return {
            "statusCode": 201,
            "headers": {"Content-Type": "application/octet-stream", "X-Fc-Sneaky": "dropped"},
            "body": base64.b64encode(b"\x00\xffbinary").decode(),
            "isBase64Encoded": True,
        }
    if path == "/plain":
        return "just a string"
    if path == "/send":
        token = request["headers"].get("Authorization", "")
        if token != "Bearer " + os.environ.get("SAMPLE_TOKEN", ""):
            return respond(
                401,
                {
                    "error": {
                        "code": "unauthorized",
                        "message": "bad token",
                        "requestId": context.request_id,
                    }
                },
            )
        return respond(*send(json.loads(request["body"]), context.request_id))
    return respond(404, {"error": {"code": "not_found", "message": path}})
