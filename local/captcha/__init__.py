"""Local stand-ins for the captcha verify APIs: Turnstile, hCaptcha and Captcha 2.0."""

from local.captcha.server import CaptchaStandIn

__all__ = ["CaptchaStandIn"]
