"""The errors the function answers with, each a stable code and an HTTP status."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error the caller sees as `{"error": {"code", "message", "field"?, ...}}`.

    `extra` adds fields beside code and message (`attemptsLeft`, `dmCode` ...);
    `headers` adds response headers (`Retry-After`).
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.extra = extra or {}
        self.headers = headers or {}

    def body(self, request_id: str) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            error["field"] = self.field
        error.update(self.extra)
        error["requestId"] = request_id
        return {"error": error}


class NotSent(ApiError):
    """A failed send that certainly mailed nothing: DirectMail refused it with its own
    error code, the connection never opened, or the function could not even call it.

    Only these give back a per-address budget; any other failure may have mailed the
    code (a timeout, a reset, an answer that is not DirectMail's).
    """


def retry_after(seconds: float) -> dict[str, str]:
    """A Retry-After header in whole seconds, never less than one."""
    return {"Retry-After": str(max(1, int(seconds + 0.999)))}


class ConfigError(Exception):
    """The environment is wrong; `problems` is every (variable, message) found."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__(self.summary)

    @property
    def variables(self) -> list[str]:
        return list(dict.fromkeys(name for name, _ in self.problems))

    @property
    def summary(self) -> str:
        return "; ".join(f"{name} {message}" for name, message in self.problems)

    def api_error(self) -> ApiError:
        return ApiError(
            500,
            "config_error",
            f"The function is misconfigured: {self.summary}",
            extra={"variables": self.variables},
        )
