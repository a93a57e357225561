"""Recipient addresses: one address, syntax checked, normalised, and masked for logs."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from dmcode.errors import ApiError


def normalise(value: object, field: str = "to") -> str:
    """The form DM receives, limits key on and `check` returns: local part as given,
    domain lowercased and IDNA-encoded. Lists, display names, quoted local parts and
    non-ASCII local parts (DM cannot deliver them) are refused.
    """
    if not isinstance(value, str):
        raise ApiError(400, "invalid_request", f"{field} must be a string.", field=field)
    try:
        result = validate_email(
            value,
            check_deliverability=False,
            allow_smtputf8=False,
            allow_quoted_local=False,
            allow_display_name=False,
            allow_domain_literal=False,
        )
    except EmailNotValidError as error:
        raise ApiError(
            400, "invalid_email", f"{field} is not a valid email address: {error}", field=field
        ) from None
    return f"{result.local_part}@{result.ascii_domain}"


def mask(address: str) -> str:
    """`j***@example.com`: enough to correlate a complaint, not enough to harvest."""
    local, _, domain = address.rpartition("@")
    if not local:
        return "***"
    return f"{local[0]}***@{domain}"
