"""Text cleanup at ingest: decode bytes, repair mojibake, parse dates, hash content."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timezone

import ftfy
from dateutil import parser as dateparser

__all__ = ["decode_bytes", "repair_text", "parse_date", "content_hash"]

# Lossy leftovers of a right double quote (E2 80 9D) read as cp1252 with the 0x9D byte dropped:
# "sanctions.â€" at a line end, and "policy†as" where the quote and the space became a dagger.
_LOSSY_QUOTE_END = re.compile(r"\u00e2\u20ac(?=\s|$)")
_LOSSY_DAGGER = re.compile(r"(?<=[\w.,;:!?])\u2020(?=\w)")
_SUSPECT = re.compile(r"\u00e2\u20ac|\u00c3[\u0080-\u00bf]")
_FTFY_CONFIG = ftfy.TextFixerConfig(uncurl_quotes=False, explain=False)


def decode_bytes(data: bytes) -> tuple[str, list[str]]:
    """UTF-8 (with or without BOM, or UTF-16 with BOM); else cp1252. Returns text and notes."""
    if data.startswith(b"\xff\xfe") or data.startswith(b"\xfe\xff"):
        return data.decode("utf-16"), ["decoded-utf16"]
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace"), ["decoded-cp1252"]


def repair_text(text: str) -> tuple[str, list[str]]:
    """Fix mojibake with ftfy plus the lossy closing-quote patterns ftfy cannot undo."""
    notes: list[str] = []
    fixed = ftfy.fix_text(text, _FTFY_CONFIG)
    if fixed != text:
        notes.append("ftfy")
    lossy, n1 = _LOSSY_QUOTE_END.subn("\u201d", fixed)
    lossy, n2 = _LOSSY_DAGGER.subn("\u201d ", lossy)
    if n1 or n2:
        notes.append(f"lossy-quote:{n1 + n2}")
    if _SUSPECT.search(lossy):
        notes.append("mojibake-suspect")
    lossy = lossy.replace("\r\n", "\n").replace("\r", "\n")
    return lossy, notes


def parse_date(value: object) -> str:
    """Any reasonable date to ISO-8601 UTC (``YYYY-MM-DDTHH:MM:SSZ``); '' when unparseable."""
    if value is None or value == "":
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        dt = datetime.fromtimestamp(float(value), tz=timezone.utc)
    else:
        try:
            dt = dateparser.parse(str(value))
        except (ValueError, OverflowError):
            return ""
    if dt is None:
        return ""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def content_hash(title: str, text: str) -> str:
    """Hash of the whitespace-normalised title and text: equal content, equal hash."""
    canon = " ".join(f"{title}\n{text}".split())
    return hashlib.sha256(canon.encode("utf-8")).hexdigest()
