"""Routing, validation, CORS, auth and error mapping over plain requests and responses.

Nothing here knows FC: `index.py` turns FC's event into a `Request` and the `Response`
back into FC's shape.
"""

from __future__ import annotations

import hmac
import json
import re
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from dmcode import __version__, locales, logs
from dmcode.addresses import mask, normalise
from dmcode.app import App
from dmcode.errors import ApiError, ConfigError, NotSent
from dmcode.http import Request, Response
from dmcode.mailer import Credentials, CredentialsMissing, SendResult, choose_credentials
from dmcode.templates import CODE_TYPES, TYPES

if TYPE_CHECKING:
    from dmcode.domain_guard import DomainGuard
    from dmcode.human_check import HumanCheck
    from dmcode.limits import Limiter
    from dmcode.verification import VerificationFlow

MAX_BODY = 16 * 1024
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_CORS_MAX_AGE = "600"
_JWKS_MAX_AGE = "300"


@dataclass
class _Trace:
    """What the request's single log line reports; filled in as the request goes."""

    route: str = "-"
    type: str | None = None
    to: str | None = None
    dm_request_id: str | None = None
    attempts: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# The request being handled (its role credentials and its log line): the public flow
# mails through a callback, and FC 2.0 may run several requests of one instance in
# threads.
_current: ContextVar[tuple[Credentials | None, _Trace] | None] = ContextVar("current", default=None)

Handler = Callable[[Request, dict[str, Any], "Credentials | None", _Trace], Response]


class Api:
    def __init__(
        self, app: App | None, config_error: ConfigError | None = None, base_path: str = ""
    ) -> None:
        """`app`, or the `config_error` every request answers; `base_path` matters then
        too, so that a custom-domain route's `/health` answers 503, not 404."""
        self.app = app
        self.config_error = config_error
        self.base_path = app.settings.base_path if app else base_path
        self.origins = frozenset(app.settings.cors_allow_origins) if app else frozenset()
        self.flow: VerificationFlow | None = None
        self.send_limiter: Limiter | None = None
        self.human_check: HumanCheck | None = None
        self.domain_guard: DomainGuard | None = None
        self.routes: dict[str, dict[str, Handler]] = {
            "/health": {"GET": self._health},
            "/send": {"POST": self._send_route},
            "/": {"POST": self._send_route},
            "/verifications": {"POST": self._start_route},
            "/verifications/check": {"POST": self._check_route},
            "/.well-known/jwks.json": {"GET": self._jwks_route},
        }
        if app is not None and app.store is not None:
            # The public flow's modules, and the cryptography they use, load only when
            # configured: an instance that only sends never imports them.
            from dmcode.limits import Limiter  # noqa: PLC0415
            from dmcode.otp import Keyring  # noqa: PLC0415

            s = app.settings
            if s.public_flow_enabled:
                from dmcode.verification import VerificationFlow  # noqa: PLC0415

                self.flow = VerificationFlow(s, app.store, self._mail_code)
                if s.captcha_provider:
                    from dmcode.human_check import HumanCheck  # noqa: PLC0415

                    self.human_check = HumanCheck(s)
            if s.send_rate_limits:
                # Keys hash addresses; without CODE_SECRETS the send tokens key them.
                keyring = Keyring(s.code_secrets or s.send_tokens)
                self.send_limiter = Limiter(
                    s.send_rate_limits, app.store, keyring.store_keys, namespace="send"
                )

        if app is not None and app.settings.domain_guard_enabled:
            from dmcode.domain_guard import DomainGuard  # noqa: PLC0415

            self.domain_guard = DomainGuard(app.settings)

    # -- entry points ------------------------------------------------------------

    def handle(self, request: Request, credentials: Credentials | None) -> Response:
        """Answers one HTTP request; never raises."""
        started = time.perf_counter()
        trace = _Trace()
        bound = _current.set((credentials, trace))
        try:
            response = self._route(request, credentials, trace)
        except ApiError as error:
            response = Response.json(error.status, error.body(request.request_id), error.headers)
            _note_error(trace, error)
        except Exception:
            response = self._internal_error(request.request_id, trace)
        finally:
            _current.reset(bound)
        self._decorate(request, response)
        self._log(request.request_id, trace, response.status, started, request.method)
        return response

    def invoke(
        self, body: bytes, request_id: str, credentials: Credentials | None
    ) -> dict[str, Any]:
        """A direct (non-HTTP) invocation: FC's API already authenticated the caller with
        RAM, so this is a trusted send; returns the object `/send` would answer."""
        started = time.perf_counter()
        trace = _Trace(route="invoke")
        status = 200
        try:
            app = self._require_app()
            result = self._send(app, _parse_json(body), credentials, trace, request_id)
        except ApiError as error:
            status, result = error.status, error.body(request_id)
            _note_error(trace, error)
        except Exception:
            status, result = 500, _internal_body(request_id)
            trace.extra["error"] = "internal_error"
            logs.unexpected(request_id)
        self._log(request_id, trace, status, started, "INVOKE")
        return result

    # -- routing -----------------------------------------------------------------

    def _route(self, request: Request, credentials: Credentials | None, trace: _Trace) -> Response:
        path = self._strip_base(request.path)
        origin = request.header("origin")
        if origin is not None and origin not in self.origins:
            # Only a known route is logged: the path is the caller's text, anything at all.
            trace.route = path if path in self.routes else "unknown"
            raise ApiError(
                403, "origin_not_allowed", "This origin is not allowed to call the function."
            )
        if request.method == "OPTIONS":
            trace.route = "preflight"
            return Response(204, self._preflight_headers())
        methods = self.routes.get(path)
        if methods is None:
            trace.route = "unknown"
            raise ApiError(404, "not_found", "No such endpoint.")
        trace.route = path
        handler = methods.get(request.method)
        if handler is None:
            allowed = ", ".join(sorted(methods))
            raise ApiError(
                405,
                "method_not_allowed",
                f"Use {allowed} on this endpoint.",
                headers={"Allow": allowed},
            )
        body = _read_body(request) if request.method == "POST" else {}
        return handler(request, body, credentials, trace)

    def _strip_base(self, path: str) -> str:
        if not self.base_path:
            return path or "/"
        if path == self.base_path:
            return "/"
        if path.startswith(self.base_path + "/"):
            return path[len(self.base_path) :]
        return "\0outside"

    # -- routes ------------------------------------------------------------------

    def _health(
        self, request: Request, body: dict[str, Any], credentials: Credentials | None, trace: _Trace
    ) -> Response:
        if self.app is None:
            error = self._config_api_error()
            return Response.json(503, error.body(request.request_id))
        try:
            _dm_credentials(self.app, credentials)
        except NotSent as error:
            # Up but unable to send: a probe must see it, not the first user.
            return Response.json(503, error.body(request.request_id))
        s = self.app.settings
        return Response.json(
            200,
            {
                "status": "ok",
                "version": __version__,
                "region": s.region,
                "types": list(self.app.templates.types),
                "send": s.send_enabled,
                "verifications": s.public_flow_enabled,
            },
        )

    def _send_route(
        self, request: Request, body: dict[str, Any], credentials: Credentials | None, trace: _Trace
    ) -> Response:
        app = self._require_app()
        if not app.settings.send_enabled:
            raise ApiError(
                404, "not_enabled", "Sending is not enabled: set SEND_TOKENS to enable /send."
            )
        self._authorize(request, app.settings.send_tokens)
        return Response.json(200, self._send(app, body, credentials, trace, request.request_id))

    def _start_route(
        self, request: Request, body: dict[str, Any], credentials: Credentials | None, trace: _Trace
    ) -> Response:
        flow = self._require_flow()
        if not isinstance(body, dict):
            raise ApiError(400, "invalid_request", "The body must be a JSON object.")
        usage_type = body.get("type", "SignIn")
        if usage_type not in CODE_TYPES:
            raise ApiError(
                400,
                "invalid_request",
                f"type must be one of {', '.join(CODE_TYPES)}.",
                field="type",
            )
        trace.type = usage_type
        to = normalise(body.get("to"), "to")
        trace.to = mask(to)
        # The body's locale, else Accept-Language by quality; the token keeps the one
        # locale chosen, so the mail and any resend read the same language.
        asked = _locale(body.get("locale"), "locale")
        wanted = [asked] if asked else locales.accept_language(request.header("accept-language"))
        locale = self._require_app().templates.chosen_locale(usage_type, wanted)
        ip = self._client_ip(request)
        if self.human_check is not None:
            # Before the limits: a script without a solved widget spends nobody's budget.
            self.human_check.verify(body.get("captcha"), ip, credentials, trace.extra)
        return Response.json(202, flow.start(to, usage_type, locale, ip))

    def _check_route(
        self, request: Request, body: dict[str, Any], credentials: Credentials | None, trace: _Trace
    ) -> Response:
        flow = self._require_flow()
        if not isinstance(body, dict):
            raise ApiError(400, "invalid_request", "The body must be a JSON object.")
        token = _string(body, "token")
        code = body.get("code")
        if isinstance(code, int) and not isinstance(code, bool) and code >= 0:
            # A code typed into a number field loses its leading zeros: 14303 is 014303.
            code = str(code).zfill(flow.settings.code_length)
        if not isinstance(code, str):
            raise ApiError(400, "invalid_request", "code must be a string.", field="code")
        result = flow.check(token, code)
        trace.type = str(result["type"])
        trace.to = mask(str(result["to"]))
        return Response.json(200, result)

    def _jwks_route(
        self, request: Request, body: dict[str, Any], credentials: Credentials | None, trace: _Trace
    ) -> Response:
        return Response.json(
            200, self._require_flow().jwks(), {"Cache-Control": f"public, max-age={_JWKS_MAX_AGE}"}
        )

    # -- the work ----------------------------------------------------------------

    def _send(
        self,
        app: App,
        body: Any,
        credentials: Credentials | None,
        trace: _Trace,
        request_id: str,
    ) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "invalid_request", "The body must be a JSON object.")
        usage_type = _string(body, "type")
        trace.type = usage_type if usage_type in TYPES else "Generic"
        to = normalise(body.get("to"), "to")
        trace.to = mask(to)
        payload = body.get("payload")
        if not isinstance(payload, dict):
            raise ApiError(400, "invalid_request", "payload must be an object.", field="payload")
        if body.get("ip") is not None and not isinstance(body.get("ip"), str):
            raise ApiError(400, "invalid_request", "ip must be a string.", field="ip")
        # payload.locale, then Logto's uiLocales in order; a malformed tag is skipped,
        # never a failed sign-in.
        wanted = [*locales.tags([payload.get("locale")]), *locales.tags(payload.get("uiLocales"))]
        if usage_type == "OrganizationInvitation":
            _check_link(payload, app.settings.send_link_hosts)
        else:
            _check_code(payload)
            if payload.get("link") is not None:
                _check_link(payload, app.settings.send_link_hosts)
        if self.domain_guard is not None and app.settings.domain_check_send:
            self.domain_guard.check(to, trace.extra)
        self._take_send_limits(to, body.get("ip"), trace)
        result = self._deliver(app, to, usage_type, wanted, payload, credentials, trace)
        return {
            "ok": True,
            "requestId": request_id,
            "envId": result.env_id,
            "dmRequestId": result.request_id,
        }

    def _deliver(
        self,
        app: App,
        to: str,
        usage_type: str,
        locale: str | list[str] | None,
        payload: Mapping[str, object],
        credentials: Credentials | None,
        trace: _Trace | None = None,
    ) -> SendResult:
        rendered = app.templates.render(usage_type, locale, payload)
        result = app.mailer.send(to, rendered, _dm_credentials(app, credentials))
        if trace is not None:
            trace.dm_request_id = result.request_id
            trace.attempts = result.attempts
        return result

    def _take_send_limits(self, to: str, ip: object, trace: _Trace) -> None:
        if self.send_limiter is None:
            return
        # Loaded already, with the limiter.
        from dmcode.store import StoreUnavailable  # noqa: PLC0415

        try:
            self.send_limiter.take(to, ip if isinstance(ip, str) else "")
        except StoreUnavailable:
            # Sign-ins must not stop because the limits' store did: send, and say so.
            trace.extra["sendLimits"] = "store_unavailable"

    def _mail_code(
        self, to: str, usage_type: str, locale: str | None, payload: dict[str, object]
    ) -> SendResult:
        """How the public flow mails its code: like /send, with this request's role."""
        app = self._require_app()
        credentials, trace = _current.get() or (None, None)
        if self.domain_guard is not None:
            # After the limits, so probing domains costs the caller's IP budget like a send.
            self.domain_guard.check(to, trace.extra if trace is not None else {})
        return self._deliver(app, to, usage_type, locale, payload, credentials, trace)

    def _client_ip(self, request: Request) -> str:
        # Loaded already, with the public flow.
        from dmcode.limits import client_ip  # noqa: PLC0415

        trust = self.app.settings.trust_proxy if self.app else 0
        return client_ip(request.source_ip, request.header("x-forwarded-for"), trust)

    # -- helpers -----------------------------------------------------------------

    def _require_flow(self) -> VerificationFlow:
        self._require_app()
        if self.flow is None:
            raise ApiError(
                404,
                "not_enabled",
                "The public verification flow is not enabled: set CODE_SECRETS to enable it.",
            )
        return self.flow

    def _require_app(self) -> App:
        if self.app is None:
            raise self._config_api_error()
        return self.app

    def _config_api_error(self) -> ApiError:
        error = self.config_error or ConfigError([("-", "the function failed to start")])
        return error.api_error()

    @staticmethod
    def _authorize(request: Request, tokens: tuple[str, ...]) -> None:
        header = request.header("authorization") or ""
        scheme, _, presented = header.partition(" ")
        presented = presented.strip()
        # Compare against every token, whatever matches first, so timing says nothing
        # about which token or how much of it was right.
        # A lone surrogate has no UTF-8 form; kept as is it can match no token.
        given = presented.encode("utf-8", "surrogatepass")
        matched = False
        for token in tokens:
            matched |= hmac.compare_digest(given, token.encode())
        if scheme.lower() != "bearer" or not presented or not matched:
            raise ApiError(
                401,
                "unauthorized",
                "A valid bearer token is required: Authorization: Bearer <token>.",
                headers={"WWW-Authenticate": 'Bearer realm="send"'},
            )

    def _preflight_headers(self) -> dict[str, str]:
        return {
            "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
            "Access-Control-Allow-Headers": "Content-Type, Authorization",
            "Access-Control-Max-Age": _CORS_MAX_AGE,
        }

    def _decorate(self, request: Request, response: Response) -> None:
        response.headers["X-Request-Id"] = request.request_id
        origin = request.header("origin")
        if self.origins:
            response.headers["Vary"] = "Origin"
        if origin is not None and origin in self.origins:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Expose-Headers"] = "X-Request-Id, Retry-After"

    def _internal_error(self, request_id: str, trace: _Trace) -> Response:
        trace.extra["error"] = "internal_error"
        logs.unexpected(request_id)
        return Response.json(500, _internal_body(request_id))

    @staticmethod
    def _log(request_id: str, trace: _Trace, status: int, started: float, method: str) -> None:
        logs.event(
            "request",
            requestId=request_id,
            method=method,
            route=trace.route,
            status=status,
            type=trace.type,
            to=trace.to,
            dmRequestId=trace.dm_request_id,
            attempts=trace.attempts,
            latencyMs=round((time.perf_counter() - started) * 1000, 1),
            **trace.extra,
        )


def _internal_body(request_id: str) -> dict[str, Any]:
    return ApiError(500, "internal_error", "Something went wrong; the request id says where.").body(
        request_id
    )


def _note_error(trace: _Trace, error: ApiError) -> None:
    trace.extra["error"] = error.code
    if error.extra.get("dmCode"):
        trace.extra["dmCode"] = error.extra["dmCode"]
    trace.dm_request_id = error.extra.get("dmRequestId") or trace.dm_request_id


def _read_body(request: Request) -> Any:
    if len(request.body) > MAX_BODY:
        raise ApiError(413, "payload_too_large", f"The body must be at most {MAX_BODY} bytes.")
    content_type = (request.header("content-type") or "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise ApiError(
            415, "unsupported_media_type", "Send the body as Content-Type: application/json."
        )
    return _parse_json(request.body)


def _parse_json(raw: bytes) -> Any:
    if len(raw) > MAX_BODY:
        raise ApiError(413, "payload_too_large", f"The body must be at most {MAX_BODY} bytes.")
    try:
        document = json.loads(raw.decode("utf-8"))
        if _SURROGATE_ESCAPE.search(raw):
            # JSON can escape a lone UTF-16 surrogate, which no UTF-8 text can hold: it
            # would fail only when the SDK encodes the mail, and look like DM's fault.
            json.dumps(document, ensure_ascii=False).encode("utf-8")
        return document
    except (UnicodeError, ValueError, RecursionError):
        raise ApiError(400, "invalid_json", "The body is not valid UTF-8 JSON.") from None


def _string(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise ApiError(400, "invalid_request", f"{name} must be a non-empty string.", field=name)
    return value


def _locale(value: object, field_name: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not locales.TAG.match(value):
        raise ApiError(
            400,
            "invalid_request",
            "locale must be a language tag such as en or zh-CN.",
            field=field_name,
        )
    return value


# What a one-time code looks like (Logto's are six digits): nothing a mail client could
# read as a link or an address, whoever holds a send token.
_CODE = re.compile(r"^[0-9A-Za-z]+(?:[ -][0-9A-Za-z]+)*$")


def _dm_credentials(app: App, role: Credentials | None) -> Credentials:
    """The AccessKey pair DM is called with, or 500 `config_error` without any."""
    try:
        return choose_credentials(app.settings, role)
    except CredentialsMissing:
        raise NotSent(
            500,
            "config_error",
            "No credentials: set DM_ACCESS_KEY_ID and DM_ACCESS_KEY_SECRET, "
            "or give the function a role.",
            extra={"variables": ["DM_ACCESS_KEY_ID", "DM_ACCESS_KEY_SECRET"]},
        ) from None


def _check_code(payload: Mapping[str, Any]) -> None:
    code = payload.get("code")
    if isinstance(code, int) and not isinstance(code, bool):
        code = str(code)
    if not isinstance(code, str) or not code.strip():
        raise ApiError(
            400, "invalid_request", "payload.code is required for this type.", field="payload.code"
        )
    if len(code) > 32 or not _CODE.match(code):
        raise ApiError(
            400,
            "invalid_request",
            "payload.code must be letters and digits, in groups split by a space or a hyphen "
            "if need be, at most 32 characters.",
            field="payload.code",
        )


def _check_link(payload: Mapping[str, Any], hosts: tuple[str, ...]) -> None:
    link = payload.get("link")
    if not isinstance(link, str) or not link:
        raise ApiError(400, "invalid_request", "payload.link must be a URL.", field="payload.link")
    try:
        parts = urlsplit(link)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("https", "http") or not parts.hostname:
        raise ApiError(
            400, "invalid_request", "payload.link must be an http(s) URL.", field="payload.link"
        )
    if hosts:
        from dmcode.links import check_link  # noqa: PLC0415

        check_link(link, {host.lower() for host in hosts})
