"""One exception tree for the whole product.

Every user-facing error renders as ``path:line:col: message`` when a location is
known, so editors and terminals can jump straight to the problem.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Location",
    "MonitorError",
    "ConfigError",
    "RuleError",
    "IngestError",
    "EngineError",
    "StoreError",
]


@dataclass(frozen=True)
class Location:
    """A place in a file: 1-based line and column (0 when unknown)."""

    path: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line and self.column:
            return f"{self.path}:{self.line}:{self.column}"
        if self.line:
            return f"{self.path}:{self.line}"
        return self.path


class MonitorError(Exception):
    """Base class of every error the product raises on purpose."""

    def __init__(self, message: str, location: Location | None = None, *, rule: str | None = None):
        super().__init__(message)
        self.message = message
        self.location = location
        self.rule = rule

    def __str__(self) -> str:
        text = self.message
        if self.rule:
            text = f"rule '{self.rule}': {text}"
        if self.location is not None:
            return f"{self.location}: {text}"
        return text


class ConfigError(MonitorError):
    """config.yaml is missing, unreadable or invalid."""


class RuleError(MonitorError):
    """A rule or list file is invalid."""


class IngestError(MonitorError):
    """An article could not be read or decoded."""


class EngineError(MonitorError):
    """The rules engine failed to compile or evaluate a ruleset."""


class StoreError(MonitorError):
    """The SQLite store could not be opened or written."""
