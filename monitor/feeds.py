"""RSS and Atom feeds: a defusedxml safety check, then feedparser on the bytes.

feedparser never sees a URL (the HTTP client fetches); documents with entity
declarations (billion laughs, external entities) are refused before parsing.
Entry HTML (summary or content) becomes plain text with paragraph breaks.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from typing import Any

from .store import iso_utc

__all__ = ["FeedEntry", "FeedError", "parse_feed", "html_to_text", "meta_charset"]

_BLOCK_END = re.compile(r"(?i)</(p|div|li|h[1-6]|blockquote|tr|section|article)\s*>|<br\s*/?>")
_ENTITY_DECL = re.compile(rb"<!ENTITY|<!DOCTYPE[^>]*\[", re.I)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([\w.:-]+)""", re.I)


class FeedError(Exception):
    """The bytes are not a usable feed (reason says why); ``permanent`` for unsafe documents."""

    def __init__(self, reason: str, permanent: bool = False) -> None:
        super().__init__(reason)
        self.permanent = permanent


@dataclass
class FeedEntry:
    title: str
    text: str  # summary or content, as plain text
    link: str
    entry_id: str
    published_at: str  # ISO-8601 UTC or ''
    author: str


def meta_charset(data: bytes) -> str | None:
    """The charset an HTML page declares in a ``<meta>`` tag (first 4 KB), if any."""
    m = _META_CHARSET.search(data[:4096])
    return m.group(1).decode("ascii", "replace") if m else None


def html_to_text(html: str) -> str:
    """Plain text of an HTML fragment, one paragraph per block element."""
    if "<" not in html:
        return html.strip()
    import lxml.html

    marked = _BLOCK_END.sub(lambda m: m.group(0) + "\n\n", html)
    try:
        text = lxml.html.fragment_fromstring(marked, create_parent="div").text_content()
    except Exception:  # lxml raises ParserError and others on junk; fall back to stripping tags
        text = re.sub(r"<[^>]*>", " ", marked)
    paras = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text)]
    return "\n\n".join(p for p in paras if p)


def _safety_check(data: bytes) -> str:
    """'' if the XML is safe and well formed, a note if it is malformed; raises FeedError on entity tricks."""
    import defusedxml.ElementTree as DET
    from defusedxml.common import DefusedXmlException

    try:
        DET.fromstring(data)
    except DefusedXmlException as exc:
        raise FeedError(f"unsafe XML refused ({type(exc).__name__}: entity or external reference "
                        "declarations are not allowed in feeds)", permanent=True) from exc
    except Exception as exc:  # xml.etree.ElementTree.ParseError and friends
        if _ENTITY_DECL.search(data[:65536]):
            raise FeedError("malformed XML with entity declarations refused", permanent=True) from exc
        return f"malformed feed XML ({exc}); entries recovered by the lenient parser"
    return ""


def _date(entry: Any) -> str:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            try:
                from datetime import datetime, timezone
                return iso_utc(datetime.fromtimestamp(calendar.timegm(value), tz=timezone.utc))
            except (OverflowError, ValueError, TypeError):
                continue
    return ""


def parse_feed(data: bytes, headers: dict[str, str] | None = None) -> tuple[list[FeedEntry], str, str]:
    """Entries of an RSS/Atom document, its title, and a warning ('' if none). Raises FeedError."""
    import feedparser

    if not data.strip():
        raise FeedError("empty response, not a feed")
    warning = _safety_check(data)
    parsed = feedparser.parse(data, response_headers=headers or {}, sanitize_html=True,
                              resolve_relative_uris=False)
    if not parsed.entries and (parsed.bozo or not parsed.get("version")):
        reason = parsed.get("bozo_exception") or "no RSS or Atom structure found"
        raise FeedError(f"not a readable RSS or Atom feed: {reason}")
    entries = []
    for e in parsed.entries:
        content = e.get("content") or []
        html = content[0].get("value", "") if content else e.get("summary", "")
        if content and len(e.get("summary", "")) > len(html):
            html = e.get("summary", "")
        entries.append(FeedEntry(title=e.get("title", "") or "", text=html_to_text(html or ""),
                                 link=e.get("link", "") or "", entry_id=e.get("id", "") or "",
                                 published_at=_date(e), author=e.get("author", "") or ""))
    title = parsed.feed.get("title", "") if parsed.get("feed") else ""
    return entries, title, warning
