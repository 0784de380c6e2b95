"""The HTTP client of the ingest stage: bounded, polite and explicit about failures.

Every request has connect and read timeouts and a total deadline (a server that
trickles bytes is cut off), a maximum response size (streamed, so a huge or
compressed-bomb body is abandoned early), a redirect cap with loop detection,
http/https only, a clear User-Agent, conditional GET and a per-host delay.
Failures raise :class:`FetchError`, classified transient (retry later with
backoff) or permanent (do not retry).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urljoin

import httpx

from .urls import host_of, is_http_url

__all__ = ["FetchError", "Response", "Fetcher", "TRANSIENT_STATUS"]

TRANSIENT_STATUS = {408, 425, 429, 500, 502, 503, 504}
_host_lock = threading.Lock()
_host_next: dict[str, float] = {}  # host -> monotonic time of the next allowed request (all fetchers)


class FetchError(Exception):
    """A fetch that failed; ``transient`` says whether retrying later may help."""

    def __init__(self, reason: str, transient: bool, status: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient
        self.status = status


@dataclass
class Response:
    url: str  # final URL after redirects
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes = b""

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def charset(self) -> str | None:
        ctype = self.headers.get("content-type", "")
        for part in ctype.split(";")[1:]:
            key, _, value = part.strip().partition("=")
            if key.lower() == "charset" and value:
                return value.strip().strip('"')
        return None


def _wait_for_host(host: str, delay: float) -> None:
    if delay <= 0:
        return
    with _host_lock:
        now = time.monotonic()
        start = max(now, _host_next.get(host, 0.0))
        _host_next[host] = start + delay
    if start > now:
        time.sleep(start - now)


class Fetcher:
    """One HTTP client; use as a context manager or call :meth:`close`."""

    def __init__(self, timeout: float = 10.0, deadline: float = 30.0, max_bytes: int = 5_000_000,
                 max_redirects: int = 5, host_delay: float = 1.0,
                 user_agent: str = "monitor/0.1 (sanctions news monitor)") -> None:
        self.deadline = deadline
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.host_delay = host_delay
        self.client = httpx.Client(follow_redirects=False, timeout=httpx.Timeout(timeout),
                                   headers={"User-Agent": user_agent}, trust_env=True)

    def __enter__(self) -> "Fetcher":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.client.close()

    def get(self, url: str, etag: str | None = None, last_modified: str | None = None,
            accept: str = "*/*") -> Response:
        """GET ``url`` following redirects by hand; 304 comes back as a Response (``not_modified``)."""
        headers = {"Accept": accept}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        seen: list[str] = []
        ends = time.monotonic() + self.deadline
        current = url
        while True:
            if not is_http_url(current):
                raise FetchError(f"not an http(s) URL: {current[:200]}", transient=False)
            if current in seen:
                raise FetchError(f"redirect loop: {' -> '.join(seen + [current])[:500]}", transient=False)
            seen.append(current)
            _wait_for_host(host_of(current), self.host_delay)
            resp = self._one(current, headers, ends)
            if resp.status in (301, 302, 303, 307, 308) and "location" in resp.headers:
                if len(seen) > self.max_redirects:
                    raise FetchError(f"more than {self.max_redirects} redirects (from {url})", transient=False,
                                     status=resp.status)
                current = urljoin(current, resp.headers["location"])
                continue
            return resp

    def _one(self, url: str, headers: dict[str, str], ends: float) -> Response:
        try:
            with self.client.stream("GET", url, headers=headers) as r:
                head = {k.lower(): v for k, v in r.headers.items()}
                if r.status_code in (301, 302, 303, 307, 308, 304):
                    return Response(str(r.url), r.status_code, head)
                if r.status_code >= 400:
                    transient = r.status_code in TRANSIENT_STATUS
                    raise FetchError(f"HTTP {r.status_code} {r.reason_phrase}".strip(), transient, r.status_code)
                declared = head.get("content-length", "")
                if declared.isdigit() and int(declared) > self.max_bytes:
                    raise FetchError(f"response is {int(declared):,} bytes, over the {self.max_bytes:,}-byte "
                                     "limit", transient=False, status=r.status_code)
                chunks: list[bytes] = []
                size = 0
                for chunk in r.iter_bytes():
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise FetchError(f"response exceeds the {self.max_bytes:,}-byte limit (abandoned)",
                                         transient=False, status=r.status_code)
                    if time.monotonic() > ends:
                        raise FetchError(f"response took longer than the {self.deadline:g} s deadline "
                                         f"({size:,} bytes received)", transient=True, status=r.status_code)
                    chunks.append(chunk)
                return Response(str(r.url), r.status_code, head, b"".join(chunks))
        except FetchError:
            raise
        except httpx.TimeoutException as exc:
            raise FetchError(f"timed out ({type(exc).__name__})", transient=True) from exc
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise FetchError(f"invalid URL: {exc}", transient=False) from exc
        except httpx.DecodingError as exc:
            raise FetchError(f"cannot decode the response body: {exc}", transient=False) from exc
        except (httpx.TransportError, OSError) as exc:
            raise FetchError(f"connection failed: {type(exc).__name__}: {exc}", transient=True) from exc
        except httpx.HTTPError as exc:
            raise FetchError(f"HTTP error: {type(exc).__name__}: {exc}", transient=True) from exc
