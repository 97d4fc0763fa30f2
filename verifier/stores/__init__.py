"""Store implementations behind the one ``Store`` contract of ``verifier.store``.

``open_store(url)`` picks one from a URL. The SQLite and Redis modules are imported
only when their URL is opened, so importing ``verifier`` never loads ``redis``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from ..errors import ConfigError
from ..store import Store
from .memory import MemoryStore

__all__ = ["MemoryStore", "open_store"]

SCHEMES = "memory://, sqlite:///relative.db, sqlite:////absolute/path.db, redis://host:port/db"


def open_store(url: str) -> Store:
    """The store a URL names; a URL that cannot be used raises ``ConfigError("store", …)``.

    SQLite URLs follow SQLAlchemy: three slashes and a relative path, four for an
    absolute one.
    """
    if not isinstance(url, str) or not url:
        raise ConfigError("store", f"expected a store URL ({SCHEMES}), got {url!r}")
    scheme = url.partition(":")[0].lower()
    if scheme == "memory":
        if url != "memory://":
            raise ConfigError("store", f"a memory store URL is exactly memory://, not {url!r}")
        return MemoryStore()
    if scheme == "sqlite":
        return _open_sqlite(url)
    if scheme in ("redis", "rediss"):
        return _open_redis(url)
    raise ConfigError("store", f"unknown store URL scheme {scheme!r}; use one of {SCHEMES}")


def _open_sqlite(url: str) -> Store:
    if not url.startswith("sqlite:///"):
        raise ConfigError(
            "store", f"a SQLite URL is sqlite:///relative.db or sqlite:////absolute.db, not {url!r}"
        )
    path = url[len("sqlite:///") :]
    if not path or path.endswith("/"):
        raise ConfigError("store", f"the SQLite URL {url!r} names no database file")
    if path == ":memory:" or "?" in path:
        raise ConfigError(
            "store", f"the SQLite URL {url!r} must name a plain file (use memory:// for no file)"
        )
    from .sqlite import SQLiteStore

    try:
        return SQLiteStore(path)
    except Exception as err:  # sqlite3 reports a missing directory as a generic error
        raise ConfigError("store", f"cannot open SQLite database {path!r}: {err}") from err


def _open_redis(url: str) -> Store:
    shown = _redacted(url)
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError as err:
        raise ConfigError("store", f"the Redis URL {shown!r} has a bad port") from err
    if not parts.hostname or port == 0:
        raise ConfigError("store", f"the Redis URL {shown!r} needs a host (redis://host:port/db)")
    db = parts.path.strip("/")
    if db and not db.isdigit():
        raise ConfigError("store", f"the Redis URL {shown!r} names database {db!r}, not a number")
    try:
        import redis
    except ImportError as err:
        raise ConfigError("store", "redis:// stores need the 'redis' package installed") from err
    from .redis import RedisStore

    try:
        return RedisStore(url)
    except (redis.RedisError, ValueError) as err:
        raise ConfigError("store", f"cannot use Redis at {shown}: {err}") from err


def _redacted(url: str) -> str:
    """``url`` without its password, for error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return parts._replace(netloc=f"{user}:***@{netloc}").geturl()
