"""URL canonicalisation: one article, one URL, however it was linked.

Lower-case scheme and host, no default port, no fragment, no tracking parameters
(``utm_*``, ``fbclid``, ``gclid``, ...; courlan's list plus a few of ours), sorted
query parameters. Only http and https URLs are accepted for fetching.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["canonical_url", "is_http_url", "host_of"]

_TRACKING = re.compile(r"^(utm_\w+|fbclid|gclid|dclid|gbraid|wbraid|msclkid|mc_cid|mc_eid|yclid|igshid|"
                       r"_ga|_gl|ocid|cmpid|ref_src|__twitter_impression|s_cid|mkt_tok)$", re.I)


def is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def host_of(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def canonical_url(url: str) -> str:
    """The canonical form of an http(s) URL; other strings come back stripped and unchanged."""
    url = (url or "").strip()
    if not is_http_url(url):
        return url
    from courlan import normalize_url  # imported lazily with the rest of the HTML stack

    try:
        url = normalize_url(url)
    except (ValueError, AttributeError):
        pass
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING.match(k)]
    host = (parts.hostname or "").lower()
    port = parts.port
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    netloc = host if port in (None, default) else f"{host}:{port}"
    if parts.username:
        netloc = f"{parts.username}{':' + parts.password if parts.password else ''}@{netloc}"
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", urlencode(sorted(query)), ""))
