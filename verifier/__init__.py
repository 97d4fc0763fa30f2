"""smsverify's reference SMS verification engine.

Pure and synchronous: time, state, message delivery and code randomness are injected,
so the HTTP service and the SimPy model run the very same policy code.
"""

from .clock import Clock, ManualClock, SystemClock
from .errors import ERRORS, ConfigError, VerificationError
from .events import Event
from .lifecycle import Verifier
from .phone import PhoneInfo, parse_phone
from .policy import Policy
from .senders import Message, SandboxSender
from .stores.memory import MemoryStore
from .verification import Verification

__all__ = [
    "ERRORS",
    "Clock",
    "ConfigError",
    "Event",
    "ManualClock",
    "MemoryStore",
    "Message",
    "PhoneInfo",
    "Policy",
    "SandboxSender",
    "SystemClock",
    "Verification",
    "VerificationError",
    "Verifier",
    "parse_phone",
]
