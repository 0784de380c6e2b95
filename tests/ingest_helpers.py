"""A real HTTP server on 127.0.0.1 for the ingest tests, with feeds and pages written for the project."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable



@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    ctype: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    trickle: float = 0.0  # seconds between single bytes
    delay: float = 0.0  # seconds before the status line
    etag: str = ""  # answer 304 to If-None-Match with this value


class Server:
    def __init__(self) -> None:
        self.routes: dict[str, Route | Callable[[], Route]] = {}
        self.hits: list[tuple[str, dict[str, str]]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                server.hits.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                route = server.routes.get(self.path)
                if callable(route):
                    route = route()
                if route is None:
                    route = Route(b"not here", 404, "text/plain")
                if route.delay:
                    time.sleep(route.delay)
                if route.etag and self.headers.get("If-None-Match") == route.etag:
                    self.send_response(304)
                    self.send_header("ETag", route.etag)
                    self.end_headers()
                    return
                self.send_response(route.status)
                self.send_header("Content-Type", route.ctype)
                if route.etag:
                    self.send_header("ETag", route.etag)
                    self.send_header("Last-Modified", formatdate(usegmt=True))
                for k, v in route.headers.items():
                    self.send_header(k, v)
                if not route.trickle:
                    self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                try:
                    if route.trickle:
                        for i in range(len(route.body)):
                            self.wfile.write(route.body[i:i + 1])
                            self.wfile.flush()
                            time.sleep(route.trickle)
                    else:
                        self.wfile.write(route.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return self.base + path

    def hits_for(self, path: str) -> int:
        return sum(1 for p, _ in self.hits if p == path)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def rss(items: list[dict[str, str]], title: str = "Test wire") -> bytes:
    """An RSS 2.0 document; each item has title, link, guid, date, description (HTML allowed)."""
    from xml.sax.saxutils import escape
    parts = [f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>{escape(title)}</title>'
             "<link>http://example.invalid/</link><description>wire</description>"]
    for it in items:
        parts.append("<item>" + "".join(f"<{tag}>{escape(it[key])}</{tag}>" for key, tag in
                     (("title", "title"), ("link", "link"), ("guid", "guid"), ("date", "pubDate"),
                      ("description", "description")) if key in it) + "</item>")
    parts.append("</channel></rss>")
    return "\n".join(parts).encode("utf-8")


def atom(entries: list[dict[str, str]]) -> bytes:
    from xml.sax.saxutils import escape
    body = "".join(
        f"<entry><title>{escape(e['title'])}</title><link href=\"{escape(e['link'])}\"/><id>{escape(e['id'])}</id>"
        f"<updated>{e['date']}</updated><summary type=\"html\">{escape(e['summary'])}</summary></entry>"
        for e in entries)
    return (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Atom wire</title>'
            f"<id>urn:test:wire</id><updated>2025-03-01T00:00:00Z</updated>{body}</feed>").encode("utf-8")


def page(title: str, paragraphs: list[str], date: str = "2025-03-04", canonical: str = "",
         charset_meta: str = "utf-8") -> str:
    """A news page with boilerplate around the article body."""
    paras = "".join(f"<p>{p}</p>" for p in paragraphs)
    link = f'<link rel="canonical" href="{canonical}">' if canonical else ""
    return (f'<!DOCTYPE html><html><head><meta charset="{charset_meta}"><title>{title}</title>{link}'
            f'<meta property="article:published_time" content="{date}"></head><body>'
            '<nav><a href="/">Home</a> <a href="/world">World</a> <a href="/sport">Sport</a></nav>'
            '<div class="cookie">We use cookies to improve your experience. Accept all?</div>'
            f"<main><article><h1>{title}</h1><p class=\"byline\">By a staff reporter</p>{paras}</article></main>"
            '<aside><h3>Related</h3><a href="/x">Another story entirely</a></aside>'
            "<footer>Copyright Example Wire. All rights reserved.</footer></body></html>")
