"""Verification-code email for Alibaba Cloud Function Compute, sent through DirectMail."""

__version__ = "0.1.0"
