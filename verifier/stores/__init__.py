"""Store implementations behind the one ``Store`` contract of ``verifier.store``."""

from .memory import MemoryStore

__all__ = ["MemoryStore"]
