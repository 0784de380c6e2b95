"""Read article files into article records: text, Markdown, HTML, JSON, JSON Lines and e-mail.

Each file yields zero or more records; every problem becomes an
:class:`ItemError` (the caller records it) and never stops the other items.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from .clean import content_hash, decode_bytes, parse_date, repair_text
from .store import utcnow
from .urls import canonical_url

__all__ = ["ArticleIn", "ItemError", "FORMATS", "read_path", "read_data", "read_json_line", "iter_files",
           "make_record", "html_article", "DEFAULT_MAX_BYTES"]

FORMATS = {".txt": "text", ".text": "text", ".md": "markdown", ".markdown": "markdown", ".html": "html",
           ".htm": "html", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".eml": "email"}
DEFAULT_MAX_BYTES = 5_000_000
FIELD_ALIASES = {
    "title": ("title", "headline"),
    "text": ("text", "content", "body", "article"),
    "url": ("url", "link", "canonical_url"),
    "published_at": ("published_at", "published", "date", "pubdate", "datetime"),
    "source": ("source", "outlet", "publisher", "site"),
    "author": ("author", "byline", "authors"),
}


@dataclass
class ArticleIn:
    title: str
    text: str
    url: str = ""
    published_at: str = ""
    source: str = ""
    origin: str = ""
    format: str = ""
    repairs: list[str] = field(default_factory=list)
    author: str = ""


@dataclass
class ItemError:
    item: str
    reason: str
    location: str = ""


def iter_files(path: Path) -> Iterator[Path]:
    """Article files under ``path`` (recursive, sorted); hidden files and README.md are skipped."""
    if path.is_file():
        yield path
        return
    for p in sorted(path.rglob("*")):
        hidden = any(part.startswith(".") for part in p.relative_to(path).parts)
        if p.is_file() and p.suffix.lower() in FORMATS and not hidden and p.name.lower() != "readme.md":
            yield p


def _split_title(text: str) -> tuple[str, str]:
    lines = text.strip("\n").split("\n")
    first = lines[0].strip()
    rest = "\n".join(lines[1:]).strip("\n")
    if rest.strip() and first and len(first) <= 250 and not first.endswith("."):
        return first, rest
    return "", text.strip("\n")


_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+", re.M)
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MD_EMPH = re.compile(r"(\*\*|__|\*|_)(?=\S)(.+?)(?<=\S)\1")


def _markdown(text: str) -> tuple[str, str]:
    title = ""
    m = re.search(r"^\s{0,3}#\s+(.+)$", text, re.M)
    if m:
        title = m.group(1).strip()
        text = text[:m.start()] + text[m.end():]
    text = _MD_LINK.sub(r"\1", text)
    text = _MD_EMPH.sub(r"\2", text)
    text = _MD_HEADING.sub("", text)
    if not title:
        title, text = _split_title(text)
    return title, text.strip("\n")


def html_article(raw: str, origin: str) -> ArticleIn | ItemError:
    """Main text and metadata (title, author, site name, date, canonical URL) of an HTML page."""
    import trafilatura  # imported lazily: it is slow to import and only HTML needs it

    # Keep the time and offset of the publication date (trafilatura's default keeps only the day).
    doc = trafilatura.bare_extraction(raw, with_metadata=True, include_comments=False, favor_precision=True,
                                      date_extraction_params={"original_date": True,
                                                              "outputformat": "%Y-%m-%dT%H:%M:%S%z"})
    if doc is None:
        return ItemError(origin, "no article text found in the HTML page")
    data = doc.as_dict() if hasattr(doc, "as_dict") else dict(doc)
    text = data.get("text") or ""
    if not text.strip():
        return ItemError(origin, "no article text found in the HTML page")
    return ArticleIn(title=data.get("title") or "", text=text, url=data.get("url") or "",
                     published_at=data.get("date") or "", source=data.get("sitename") or "",
                     author=data.get("author") or "")


_FRONT = re.compile(r"\A---[ \t]*\n(.*?)\n---[ \t]*\n", re.S)


def _front_matter(text: str) -> tuple[dict[str, str], str]:
    """``---`` delimited ``key: value`` lines at the top of a text or Markdown file."""
    m = _FRONT.match(text.lstrip("\ufeff"))
    if not m:
        return {}, text
    meta = {}
    for line in m.group(1).split("\n"):
        key, sep, value = line.partition(":")
        if sep and key.strip():
            meta[key.strip().lower()] = value.strip().strip('"').strip("'")
    return meta, text.lstrip("\ufeff")[m.end():]


def _pick(obj: dict[str, Any], name: str, fields: dict[str, str] | None = None) -> Any:
    if fields and name in fields:
        return obj.get(fields[name])
    for key in FIELD_ALIASES[name]:
        if key in obj and obj[key] not in (None, ""):
            return obj[key]
    return None


def _from_object(obj: Any, origin: str, fields: dict[str, str] | None = None) -> ArticleIn | ItemError:
    if not isinstance(obj, dict):
        return ItemError(origin, f"expected a JSON object, got {type(obj).__name__}")
    text = _pick(obj, "text", fields)
    if not isinstance(text, str) or not text.strip():
        want = f"'{fields['text']}'" if fields and "text" in fields else "'text' (or 'content'/'body')"
        return ItemError(origin, f"no {want} field with article text")
    title = _pick(obj, "title", fields)
    src = _pick(obj, "source", fields)
    if isinstance(src, dict):
        src = src.get("name") or src.get("title")
    date = _pick(obj, "published_at", fields)
    author = _pick(obj, "author", fields)
    if isinstance(author, list):
        author = ", ".join(str(a.get("name", "") if isinstance(a, dict) else a) for a in author)
    return ArticleIn(title=str(title or ""), text=text, url=str(_pick(obj, "url", fields) or ""),
                     published_at=date if isinstance(date, (int, float)) and not isinstance(date, bool)
                     else str(date or ""), source=str(src or ""), author=str(author or ""))


def read_json_line(line: str, where: str, fields: dict[str, str] | None = None) -> ArticleIn | ItemError | None:
    """One JSON Lines line (None for a blank line)."""
    if not line.strip():
        return None
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        return ItemError(where, f"invalid JSON line: {exc.msg} (column {exc.colno})", where)
    art = _from_object(obj, where, fields)
    if isinstance(art, ArticleIn):
        art.origin, art.format = where, "jsonl"
    return art


def _email(data: bytes, origin: str) -> ArticleIn | ItemError:
    from email import policy
    from email.parser import BytesParser

    try:
        msg = BytesParser(policy=policy.default).parsebytes(data)
        body = msg.get_body(preferencelist=("plain", "html"))
        if body is None:
            return ItemError(origin, "e-mail has no text or HTML part")
        content = body.get_content()
        if isinstance(content, bytes):
            content = decode_bytes(content, body.get_content_charset())[0]
        subject, date = str(msg.get("subject", "") or ""), str(msg.get("date", "") or "")
        sender = msg.get("from")
        sender_name = sender.addresses[0].display_name if sender is not None and getattr(sender, "addresses", ())\
            else ""
    except Exception as exc:  # the stdlib parser raises many kinds of errors on broken mail
        return ItemError(origin, f"cannot parse e-mail: {type(exc).__name__}: {exc}")
    if body.get_content_type() == "text/html":
        art = html_article(content, origin)
        if isinstance(art, ItemError):
            return art
        art.title = subject or art.title
        art.published_at = date or art.published_at
        return art
    if not content.strip():
        return ItemError(origin, "e-mail body is empty")
    return ArticleIn(title=subject, text=content, published_at=date, source=sender_name, author=sender_name)


def read_path(path: Path, max_bytes: int = DEFAULT_MAX_BYTES,
              fields: dict[str, str] | None = None) -> Iterator[ArticleIn | ItemError]:
    """Articles (or errors) from one file."""
    origin = str(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        yield ItemError(origin, f"unsupported file type '{path.suffix}' (supported: {', '.join(sorted(FORMATS))})")
        return
    try:
        size = path.stat().st_size
        if size > max_bytes:
            yield ItemError(origin, f"file is {size:,} bytes, over the {max_bytes:,}-byte limit")
            return
        data = path.read_bytes()
    except OSError as exc:
        yield ItemError(origin, f"cannot read file: {exc.strerror}")
        return
    yield from read_data(data, origin, fmt, fields)


def read_data(data: bytes, origin: str, fmt: str, fields: dict[str, str] | None = None,
              declared: str | None = None) -> Iterator[ArticleIn | ItemError]:
    """Articles (or errors) from the bytes of one file or response in format ``fmt`` (see FORMATS)."""
    if not data.strip():
        yield ItemError(origin, "empty file")
        return
    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        yield ItemError(origin, "binary file (contains NUL bytes), not an article")
        return
    if fmt == "email":
        art = _email(data, origin)
        if isinstance(art, ArticleIn):
            art.origin, art.format = origin, fmt
        yield art
        return
    raw, notes = decode_bytes(data, declared)
    if fmt in ("text", "markdown"):
        meta, raw = _front_matter(raw)
        title, body = _split_title(raw) if fmt == "text" else _markdown(raw)
        art = _from_object({"title": title, **meta, "text": body}, origin)
        if isinstance(art, ArticleIn):
            art.origin, art.format, art.repairs = origin, fmt, notes
        yield art
    elif fmt == "html":
        art = html_article(raw, origin)
        if isinstance(art, ArticleIn):
            art.origin, art.format, art.repairs = origin, fmt, notes
        yield art
    elif fmt == "json":
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            yield ItemError(origin, f"invalid JSON: {exc.msg}", f"{origin}:{exc.lineno}:{exc.colno}")
            return
        for i, item in enumerate(obj if isinstance(obj, list) else [obj]):
            where = f"{origin}[{i}]" if isinstance(obj, list) else origin
            art = _from_object(item, where, fields)
            if isinstance(art, ArticleIn):
                art.origin, art.format, art.repairs = where, fmt, list(notes)
            yield art
    else:
        for lineno, line in enumerate(raw.split("\n"), 1):
            art = read_json_line(line, f"{origin}:{lineno}", fields)
            if isinstance(art, ArticleIn):
                art.repairs = list(notes)
            if art is not None:
                yield art


def make_record(art: ArticleIn, source: str) -> dict[str, Any]:
    """A row for the ``articles`` table: repaired text, ISO dates, content hash and id."""
    title, title_notes = repair_text(art.title)
    text, text_notes = repair_text(art.text)
    title = " ".join(title.split())
    text = text.strip("\n")
    now = utcnow()
    published = parse_date(art.published_at)
    digest = content_hash(title, text)
    return {
        "id": digest[:16], "source": art.source or source, "url": canonical_url(art.url), "title": title,
        "published_at": published or now, "published_at_source": "article" if published else "ingested",
        "ingested_at": now, "text": text, "content_hash": digest, "origin": art.origin, "format": art.format,
        "chars": len(text), "repairs": sorted(set(art.repairs + title_notes + text_notes)),
        "author": " ".join(art.author.split())[:300],
    }
