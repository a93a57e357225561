"""A local Alibaba Cloud DirectMail: the SingleSendMail API, faults on demand, and an inbox."""

from local.acs3 import KeyPair
from local.dm_emulator.emulator import Emulator
from local.dm_emulator.faults import SERVICE_UNAVAILABLE, THROTTLING, Faults, ForcedError
from local.dm_emulator.service import Stats
from local.dm_emulator.store import Message

__all__ = [
    "SERVICE_UNAVAILABLE",
    "THROTTLING",
    "Emulator",
    "Faults",
    "ForcedError",
    "KeyPair",
    "Message",
    "Stats",
]
