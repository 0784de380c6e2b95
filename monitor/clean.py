"""Text cleanup at ingest: decode bytes, repair mojibake, parse dates, hash content."""

from __future__ import annotations

import codecs
import hashlib
import re
import unicodedata
from datetime import datetime, timezone

import ftfy
from dateutil import parser as dateparser

from .store import iso_utc

__all__ = ["decode_bytes", "repair_text", "parse_date", "content_hash"]

# Encodings charset-normalizer may guess for Western text; they are read as cp1252 (what browsers do).
_WESTERN = re.compile(r"^(ascii|latin_?1|iso8859_(1|15)|cp125[02]|mac_\w+|cp437|cp850)$")
_UTF8_SEQ = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
_LATIN1_NAMES = {"iso-8859-1", "iso8859-1", "latin-1", "latin1", "l1", "us-ascii", "ascii"}


def _cp1252_fallback(exc: UnicodeError) -> tuple[str, int]:
    """Decode error handler: a byte that is not UTF-8 is read as cp1252 (mixed-encoding files)."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    bad = exc.object[exc.start:exc.start + 1]
    return bad.decode("cp1252", errors="replace"), exc.start + 1


codecs.register_error("monitor-cp1252", _cp1252_fallback)

# Lossy leftovers of a right double quote (E2 80 9D) read as cp1252 with the 0x9D byte dropped:
# "sanctions.â€" at a line end, and "policy†as" where the quote and the space became a dagger.
_LOSSY_QUOTE_END = re.compile(r"\u00e2\u20ac(?=\s|$)")
_LOSSY_DAGGER = re.compile(r"(?<=[\w.,;:!?])\u2020(?=\w)")
_SUSPECT = re.compile(r"\u00e2\u20ac|\u00c3[\u0080-\u00bf]")
# What ftfy can act on: a mojibake lead byte (Â..ô read as cp1252/latin-1) followed by a continuation-like
# character, HTML entities, control and escape characters, ligatures, full-width forms, surrogates.
_FTFY_WORK = re.compile("[\u00c2-\u00f4][\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192"
                        "\u02c6\u02dc\u2013-\u203a\u20ac\u2122]|&|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]|"
                        "[\ufb00-\ufb06\uff01-\uffef\ud800-\udfff]")
_FTFY_CONFIG = ftfy.TextFixerConfig(uncurl_quotes=False, explain=False)


def decode_bytes(data: bytes, declared: str | None = None) -> tuple[str, list[str]]:
    """Bytes to text; returns the text and notes (``decoded-<encoding>`` when not plain UTF-8).

    A byte-order mark wins; then the declared charset (HTTP header or meta tag) if the bytes
    decode with it; then UTF-8; UTF-8 mixed with cp1252 bytes is decoded piecewise; otherwise
    charset-normalizer guesses (Cyrillic, CJK, ...) and Western guesses are read as cp1252.
    """
    if data.startswith(b"\xff\xfe") or data.startswith(b"\xfe\xff"):
        try:
            return data.decode("utf-16"), ["decoded-utf16"]
        except UnicodeDecodeError:
            return data.decode("utf-16", errors="replace"), ["decoded-utf16", "invalid-bytes-replaced"]
    try:
        utf8: str | None = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        utf8 = None
    if utf8 is not None and (not declared or not utf8.isascii()):
        return utf8, []  # valid UTF-8 with non-ASCII text is UTF-8 whatever the declaration says
    if declared:
        name = declared.strip().strip("'\"").lower()
        if name in _LATIN1_NAMES:
            name = "cp1252"
        try:
            codec = codecs.lookup(name).name
        except LookupError:
            codec = ""
        if codec and codec not in ("utf-8", "utf-8-sig"):
            try:
                return data.decode(codec), [f"decoded-{codec}"]
            except UnicodeDecodeError:
                pass  # declared wrongly: detect below
    if utf8 is not None:
        return utf8, []
    sample = data[:200_000]
    high = sum(1 for b in sample if b >= 0x80)
    utf8 = sum(len(m) for m in _UTF8_SEQ.findall(sample))
    if utf8 and 2 * utf8 >= high - utf8:  # many real UTF-8 sequences among other bytes: UTF-8 mixed with cp1252
        return data.decode("utf-8", errors="monitor-cp1252"), ["decoded-utf8-cp1252-mixed"]
    from charset_normalizer import from_bytes  # imported lazily: only odd files need it

    best = from_bytes(sample).best() if high * 5 > len(sample) else None
    if best is not None and not _WESTERN.match(best.encoding):
        try:
            return data.decode(best.encoding), [f"decoded-{best.encoding}"]
        except (UnicodeDecodeError, LookupError):
            pass
    return data.decode("cp1252", errors="replace"), ["decoded-cp1252"]


def repair_text(text: str) -> tuple[str, list[str]]:
    """Fix mojibake with ftfy plus the lossy closing-quote patterns ftfy cannot undo."""
    notes: list[str] = []
    if _FTFY_WORK.search(text) or not unicodedata.is_normalized("NFC", text):
        fixed = ftfy.fix_text(text, _FTFY_CONFIG)
    else:
        fixed = text  # nothing ftfy would change; skipping it triples ingest speed
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
    return iso_utc(dt)


def content_hash(title: str, text: str) -> str:
    """Hash of the whitespace-normalised title and text: equal content, equal hash."""
    canon = " ".join(f"{title}\n{text}".split())
    return hashlib.sha256(canon.encode("utf-8")).hexdigest()
