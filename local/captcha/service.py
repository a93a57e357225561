"""What the three captcha services decide: tokens issued to a widget, redeemed once.

A token remembers the site key (Turnstile, hCaptcha) or scene (Captcha 2.0) it was
issued for and the host name of the page that asked for it, as the real services do,
so the function's wrong-site and replay checks meet the answers they would in the cloud.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone

# Turnstile and hCaptcha tokens are good for 300 s after the challenge.
TOKEN_TTL = 300


@dataclass
class _Issued:
    provider: str
    site: str  # site key, or scene ID for Captcha 2.0
    hostname: str
    issued_at: float
    used: bool = False


class CaptchaService:
    def __init__(self, sites: dict[str, str], scenes: set[str]) -> None:
        self.sites = dict(sites)  # site key -> secret
        self.scenes = set(scenes)
        self.tokens: dict[str, _Issued] = {}
        self.verifications = 0
        self.lock = threading.Lock()
        self._clock = time.monotonic

    def issue(self, provider: str, site: str, hostname: str) -> str | None:
        """A token for a solved widget, or None for an unknown site key or scene."""
        known = site in self.scenes if provider == "aliyun" else site in self.sites
        if provider not in ("aliyun", "turnstile", "hcaptcha") or not known:
            return None
        if provider == "aliyun":
            # The widget's captchaVerifyParam: a JSON string the server passes on as is.
            certify_id = secrets.token_urlsafe(12)
            token = json.dumps(
                {
                    "sceneId": site,
                    "certifyId": certify_id,
                    "deviceToken": secrets.token_urlsafe(24),
                    "data": secrets.token_urlsafe(32),
                }
            )
            key = certify_id
        else:
            prefix = "0." if provider == "turnstile" else "P1_"
            token = key = prefix + secrets.token_urlsafe(48)
        with self.lock:
            self.tokens[key] = _Issued(provider, site, hostname, self._clock())
        return token

    def siteverify(self, provider: str, form: dict[str, str]) -> dict[str, object]:
        """Turnstile's or hCaptcha's siteverify answer for one form POST."""
        with self.lock:
            self.verifications += 1
        secret, response = form.get("secret", ""), form.get("response", "")
        if not secret:
            return _refused("missing-input-secret")
        site = next((key for key, value in self.sites.items() if value == secret), None)
        if site is None:
            return _refused("invalid-input-secret")
        if not response:
            return _refused("missing-input-response")
        if provider == "hcaptcha" and form.get("sitekey") not in (None, site):
            return _refused("sitekey-secret-mismatch")
        duplicate = (
            "timeout-or-duplicate"
            if provider == "turnstile"
            else ("invalid-or-already-seen-response")
        )
        with self.lock:
            issued = self.tokens.get(response)
            if issued is None or issued.provider != provider or issued.site != site:
                return _refused("invalid-input-response")
            if issued.used or self._clock() - issued.issued_at > TOKEN_TTL:
                return _refused(duplicate)
            issued.used = True
        answer: dict[str, object] = {
            "success": True,
            "challenge_ts": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "hostname": issued.hostname,
            "error-codes": [],
        }
        if provider == "turnstile":
            answer.update({"action": "", "cdata": ""})
        else:
            answer["credit"] = False
        return answer

    def verify_intelligent_captcha(self, param: str, scene_id: str) -> tuple[bool, str]:
        """Captcha 2.0's (VerifyResult, VerifyCode) for one CaptchaVerifyParam."""
        with self.lock:
            self.verifications += 1
        try:
            document = json.loads(param)
        except ValueError:
            document = None
        if not isinstance(document, dict) or not isinstance(document.get("certifyId"), str):
            return False, "F002"  # parameter empty or malformed
        with self.lock:
            issued = self.tokens.get(document["certifyId"])
            if issued is None or issued.provider != "aliyun":
                return False, "F002"
            if issued.site != scene_id or document.get("sceneId") != scene_id:
                return False, "F003"  # not this scene's token
            if issued.used or self._clock() - issued.issued_at > TOKEN_TTL:
                return False, "F008"  # submitted twice
            issued.used = True
        return True, "T001"


def _refused(code: str) -> dict[str, object]:
    return {"success": False, "error-codes": [code]}
