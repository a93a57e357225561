"""Faults injected into DM answers at run time, to exercise a client's error paths."""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from dataclasses import dataclass
from typing import Any

from local.dm_emulator import errors
from local.dm_emulator.errors import Refusal

MALFORMED_STATUS = 502
MALFORMED_BODY = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>Tengine</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


@dataclass(frozen=True)
class ForcedError:
    """A DM error answer to give instead of processing the send."""

    status: int
    code: str
    message: str = ""

    def __post_init__(self) -> None:
        if not 400 <= self.status <= 599:
            raise ValueError("error status must be 4xx or 5xx")
        if not self.code:
            raise ValueError("error code must not be empty")

    def as_refusal(self) -> Refusal:
        return Refusal(self.status, self.code, self.message or self.code)


SERVICE_UNAVAILABLE = ForcedError(503, "ServiceUnavailable", errors.SERVICE_UNAVAILABLE.message)
THROTTLING = ForcedError(400, "Throttling.User", errors.THROTTLED.message)


# A dripped answer leaves in pieces of this many bytes.
DRIP_PIECE = 8


@dataclass(frozen=True)
class Faults:
    """What goes wrong, and for how long.

    `throttle` is the share of sends refused with Throttling.User. At most one of
    `error`, `reset`, `malformed` and `quota` is set; it hits the next `times`
    sends, or every send while `times` is None. `latency_ms` delays every answer;
    `drip_ms` sends every answer in DRIP_PIECE-byte pieces, one every `drip_ms` (each
    socket read sees data, so only a deadline on the whole answer ends the wait).
    `half_open` silences every connection open at the moment it is set, as a NAT that
    forgot an idle connection: a request written into one is never read nor answered
    and the connection is never closed; new connections work.
    """

    throttle: float = 0.0
    latency_ms: int = 0
    error: ForcedError | None = None
    reset: bool = False
    malformed: bool = False
    quota: bool = False
    times: int | None = None
    drip_ms: int = 0
    half_open: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.throttle <= 1.0:
            raise ValueError("throttle must be between 0 and 1")
        if self.latency_ms < 0:
            raise ValueError("latencyMs must not be negative")
        if self.drip_ms < 0:
            raise ValueError("dripMs must not be negative")
        if sum([self.error is not None, self.reset, self.malformed, self.quota]) > 1:
            raise ValueError("set at most one of error, reset, malformed and quota")
        if self.times is not None and self.times < 0:
            raise ValueError("times must not be negative")

    @property
    def failing(self) -> bool:
        active = self.error is not None or self.reset or self.malformed or self.quota
        return active and self.times != 0

    def to_json(self) -> dict[str, Any]:
        return {
            "throttle": self.throttle,
            "latencyMs": self.latency_ms,
            "error": dataclasses.asdict(self.error) if self.error else None,
            "reset": self.reset,
            "malformed": self.malformed,
            "quota": self.quota,
            "times": self.times,
            "dripMs": self.drip_ms,
            "halfOpen": self.half_open,
        }

    @classmethod
    def from_json(cls, data: object) -> Faults:
        """Build from the admin API's JSON; raise ValueError on anything unexpected."""
        if not isinstance(data, dict):
            raise ValueError("faults must be a JSON object")
        known = {
            "throttle",
            "latencyMs",
            "error",
            "reset",
            "malformed",
            "quota",
            "times",
            "dripMs",
            "halfOpen",
        }
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        error = data.get("error")
        if error is not None:
            if not isinstance(error, dict):
                raise ValueError("error must be an object with status, code and message")
            error = ForcedError(
                status=_integer(error.get("status"), "error.status"),
                code=str(error.get("code") or ""),
                message=str(error.get("message") or ""),
            )
        times = data.get("times")
        return cls(
            throttle=_number(data.get("throttle", 0.0), "throttle"),
            latency_ms=_integer(data.get("latencyMs", 0), "latencyMs"),
            error=error,
            reset=_flag(data.get("reset", False), "reset"),
            malformed=_flag(data.get("malformed", False), "malformed"),
            quota=_flag(data.get("quota", False), "quota"),
            times=None if times is None else _integer(times, "times"),
            drip_ms=_integer(data.get("dripMs", 0), "dripMs"),
            half_open=_flag(data.get("halfOpen", False), "halfOpen"),
        )


def _number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number")
    return float(value)


def _integer(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer")
    return value


def _flag(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false")
    return value


@dataclass(frozen=True)
class Outcome:
    """What the faults make of one send: a delay, then at most one failure."""

    latency_ms: int = 0
    refusal: Refusal | None = None
    reset: bool = False
    malformed: bool = False
    drip_ms: int = 0


class FaultState:
    """The current faults, shared by the server threads and the Python API."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._faults = Faults()
        self._lock = threading.Lock()
        # Connections accepted before this moment (time.monotonic) are silenced.
        self._silenced_before = float("-inf")
        self._rng = rng or random.Random()  # noqa: S311 - picks which sends to throttle, not a secret

    @property
    def current(self) -> Faults:
        with self._lock:
            return self._faults

    def set(self, faults: Faults) -> None:
        with self._lock:
            self._faults = faults
            self._silenced_before = time.monotonic() if faults.half_open else float("-inf")

    def silenced(self, accepted_at: float) -> bool:
        """Whether a connection accepted at `accepted_at` (time.monotonic) went half-open."""
        with self._lock:
            return accepted_at < self._silenced_before

    def clear(self) -> None:
        self.set(Faults())

    def draw(self) -> Outcome:
        """Decide the fate of one send, using up one of `times` when a failure fires."""
        with self._lock:
            f = self._faults
            if f.failing:
                if f.times is not None:
                    self._faults = dataclasses.replace(f, times=f.times - 1)
                refusal = f.error.as_refusal() if f.error else None
                return Outcome(
                    latency_ms=f.latency_ms,
                    refusal=errors.SPAM_REFUSED if f.quota else refusal,
                    reset=f.reset,
                    malformed=f.malformed,
                    drip_ms=f.drip_ms,
                )
            throttled = f.throttle > 0 and self._rng.random() < f.throttle
            return Outcome(
                latency_ms=f.latency_ms,
                refusal=errors.THROTTLED if throttled else None,
                drip_ms=f.drip_ms,
            )
