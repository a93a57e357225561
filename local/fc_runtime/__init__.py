"""A local stand-in for FC 3.0's python3.12 and python3.10 runtimes: HTTP trigger, FC API
and instances."""

from local.fc_runtime.config import Credentials, RuntimeConfig
from local.fc_runtime.runtime import Runtime

__all__ = ["Credentials", "Runtime", "RuntimeConfig"]
