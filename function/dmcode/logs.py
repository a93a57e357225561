"""One JSON line per request on stdout, and the SDK's loggers silenced.

The SDK's `darabonba-core` logger is set to DEBUG with a handler of its own, and with
`DEBUG=sdk` in the environment it dumps whole requests (address and code included). The
function takes it and its siblings over at start, so nothing they print can escape.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback
from typing import Any

_SDK_LOGGERS = ("darabonba-core", "alibabacloud-tea", "credentials")
_LOGGER = logging.getLogger("dmcode")


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "event": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if fields:
            line.update(fields)
        text = json.dumps(line, ensure_ascii=False, separators=(",", ":"))
        if not text.isascii() and _unwritable(text):
            # A lone surrogate (a crafted event's method, say) has no UTF-8 form: the
            # write would fail and the line be lost. Escaped, it is kept.
            text = json.dumps(line, separators=(",", ":"))
        return text


def _unwritable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


class _StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stdout is at the time, so a replaced stdout (a test's
    capture, a runtime's redirect) still receives the lines."""

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def setup(level: str = "INFO") -> None:
    """Idempotent: FC may call initialize again after a failed start."""
    if not any(getattr(h, "dmcode", False) for h in _LOGGER.handlers):
        handler = _StdoutHandler()
        handler.setFormatter(_JsonFormatter())
        handler.dmcode = True  # type: ignore[attr-defined]
        _LOGGER.addHandler(handler)
    _LOGGER.setLevel(level)
    _LOGGER.propagate = False
    silence_sdk()


def silence_sdk() -> None:
    for name in _SDK_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = False
        logger.setLevel(logging.CRITICAL + 1)


def event(name: str, level: int = logging.INFO, **fields: Any) -> None:
    """Logs `name` with `fields`; callers pass only values safe to keep (masked, coded).

    The record is made directly: Logger.log would also walk the stack for the caller's
    file and line, which no line prints, and that is half its cost on every request.
    """
    if not _LOGGER.isEnabledFor(level):
        return
    kept = {k: v for k, v in fields.items() if v is not None}
    record = _LOGGER.makeRecord(_LOGGER.name, level, "", 0, name, (), None, extra={"fields": kept})
    _LOGGER.handle(record)


def unexpected(request_id: str) -> None:
    """Logs the exception being handled by type and place only: its message or locals
    could carry an address or a code."""
    error = sys.exc_info()[1]
    frames = traceback.extract_tb(error.__traceback__) if error else []
    where = [f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}" for f in frames[-3:]]
    event(
        "unexpected_error",
        logging.ERROR,
        requestId=request_id,
        error=type(error).__name__ if error else None,
        where=where,
    )
