"""One monitor per database: an exclusive ``flock`` on ``<database>.lock``.

The lock file records who holds it (pid, host, start time, config) so a second
``monitor run`` can name the running one. The kernel drops the lock when the
process exits for any reason, ``kill -9`` included, so there is no stale lock.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from pathlib import Path
from typing import Any

from .errors import Location, StoreError
from .store import utcnow

__all__ = ["InstanceLock", "lock_path"]


def lock_path(database: str | Path) -> Path:
    return Path(f"{database}.lock")


class InstanceLock:
    """``with InstanceLock(db, config_path):`` holds the database for this process or raises StoreError."""

    def __init__(self, database: str | Path, config_path: str | Path = "") -> None:
        self.database = Path(database)
        self.path = lock_path(database)
        self.config_path = str(config_path)
        self._fd: int | None = None

    def holder(self) -> dict[str, Any]:
        """What the lock file says about its holder ({} when unreadable)."""
        try:
            return dict(json.loads(self.path.read_text(encoding="utf-8") or "{}"))
        except (OSError, ValueError):
            return {}

    def is_held(self) -> bool:
        """True when some process holds the lock (checked without taking it)."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            h = self.holder()
            who = (f"pid {h.get('pid', '?')} on {h.get('host', '?')}, running since {h.get('started_at', '?')} "
                   f"with config {h.get('config', '?')}")
            raise StoreError(f"another monitor is already running on this database ({who}); "
                             f"stop it first, e.g. kill -TERM {h.get('pid', '<pid>')}",
                             Location(str(self.database))) from None
        info = {"pid": os.getpid(), "host": socket.gethostname(), "started_at": utcnow(),
                "config": self.config_path, "database": str(self.database)}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> "InstanceLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
