"""config.yaml: every setting, its default and its help text in one place.

Relative paths in the config resolve against the folder of the config file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError, Location
from .ruletypes import LEVELS
from .yamlfile import Marks, load_yaml_file

__all__ = ["Config", "NotifyConfig", "Source", "SETTINGS", "SOURCE_KINDS", "load_config", "parse_duration"]


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str


SETTINGS = (
    Setting("database", "monitor.db", "SQLite file for articles, alerts, errors and runs"),
    Setting("rules", ["rules"], "rule and list files or folders (YAML)"),
    Setting("sources", [], "where articles come from: a list of {name, kind, path, every, cron}"),
    Setting("max_file_bytes", 5_000_000, "files larger than this are not ingested (recorded in errors)"),
    Setting("scan_batch", 200, "articles read from the database per scan batch"),
    Setting("http_timeout", 10.0, "seconds to connect, and to wait for each chunk of a response"),
    Setting("http_deadline", 30.0, "seconds a whole HTTP response may take (stops servers that trickle bytes)"),
    Setting("max_response_bytes", 5_000_000, "larger HTTP responses are abandoned (recorded in errors)"),
    Setting("max_redirects", 5, "redirects followed per request"),
    Setting("host_delay", 1.0, "seconds between two requests to the same host (politeness)"),
    Setting("user_agent", "monitor/0.1 (sanctions news monitor)", "User-Agent header of every request"),
    Setting("incident_window_days", 30, "alerts with the same incident key more than this many days apart "
            "(by published time) are separate incidents"),
    Setting("rescan_days", 30, "when the rules change, rescan articles published or ingested in the last N days (0: none)"),
    Setting("rules_poll", 2.0, "how often 'monitor run' checks rule and list files for changes (seconds)"),
    Setting("notify", None, "optional notifications: {urls, min_level, mode, realert, dedupe, retry}"),
)
SOURCE_KINDS = ("folder", "jsonl", "feed")
SOURCE_KEYS = {"name", "kind", "path", "url", "every", "cron", "fetch_pages", "max_entries", "fields"}
FIELD_NAMES = ("title", "text", "url", "published_at", "source", "author")
NOTIFY_KEYS = {"urls", "min_level", "mode", "realert", "dedupe", "retry"}
NOTIFY_MODES = ("per-alert", "digest")
NOTIFY_LEVELS = LEVELS
DEDUPE_COLUMNS = ("incident_id", "rule_id", "article_id", "level", "captures", "supplier", "recipient", "item",
                  "regimes")
DEFAULT_EVERY = 900.0
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)?\s*$")
_UNIT_SECONDS = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Source:
    name: str
    kind: str
    path: Path | None  # folder and jsonl sources; None for feeds
    every: float = DEFAULT_EVERY
    cron: str | None = None
    url: str = ""  # feed sources
    fetch_pages: bool = False  # feed: fetch each entry's page and extract its main text
    max_entries: int = 100  # feed: new entries ingested per cycle
    fields: tuple[tuple[str, str], ...] = ()  # JSON field mapping: (our name, their field)


def parse_duration(value: Any) -> float | None:
    """Seconds from ``90``, ``"30s"``, ``"15m"``, ``"2h"`` or ``"1d"``; None if not a positive duration."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if value > 0 else None
    if not isinstance(value, str):
        return None
    m = _DURATION.match(value)
    if not m:
        return None
    seconds = float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    return seconds if seconds > 0 else None


@dataclass(frozen=True)
class NotifyConfig:
    """Where and how to send alerts (apprise URLs)."""

    urls: tuple[str, ...]
    min_level: str = "medium"
    mode: str = "per-alert"  # per-alert | digest
    realert: float = 86400.0  # seconds: the same dedupe key is not re-sent within this window
    dedupe: tuple[str, ...] = ("incident_id", "level")  # one message per incident and level
    retry: float = 60.0  # seconds before the first retry of a failed send (doubles each time)


@dataclass(frozen=True)
class Config:
    path: Path
    database: Path
    rules: list[Path]
    sources: list[Source] = field(default_factory=list)
    max_file_bytes: int = 5_000_000
    scan_batch: int = 200
    http_timeout: float = 10.0
    http_deadline: float = 30.0
    max_response_bytes: int = 5_000_000
    max_redirects: int = 5
    host_delay: float = 1.0
    user_agent: str = "monitor/0.1 (sanctions news monitor)"
    incident_window_days: int = 30
    rescan_days: int = 30
    rules_poll: float = 2.0
    notify: NotifyConfig | None = None


def _number(data: dict[str, Any], key: str, marks: Marks, default: float, zero_ok: bool = False) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (value == 0 and not zero_ok):
        raise ConfigError(f"'{key}' must be a {'non-negative' if zero_ok else 'positive'} number of seconds, "
                          f"got {value!r} (hint: in YAML write numbers without quotes)", marks.value(key))
    return float(value)


def _source_extras(src: dict[str, Any], name: str, kind: str, marks: Marks, i: int) -> dict[str, Any]:
    """The keys only some source kinds take: url, fetch_pages, max_entries (feed) and fields (JSON)."""
    out: dict[str, Any] = {}
    allowed = {"feed": {"url", "fetch_pages", "max_entries"}, "folder": {"path", "fields"},
               "jsonl": {"path", "fields"}}[kind] | {"name", "kind", "every", "cron"}
    for key in src:
        if key not in allowed:
            raise ConfigError(f"source '{name}': '{key}' does not apply to kind {kind} "
                              f"(allowed: {', '.join(sorted(allowed))})", marks.key("sources", i, key))
    if kind == "feed":
        from .urls import is_http_url
        url = src.get("url")
        if not isinstance(url, str) or not is_http_url(url):
            raise ConfigError(f"source '{name}' needs a 'url' starting with http:// or https://, got {url!r}",
                              marks.value("sources", i, "url") if "url" in src else marks.value("sources", i))
        out["url"] = url.strip()
        fetch_pages = src.get("fetch_pages", False)
        if not isinstance(fetch_pages, bool):
            raise ConfigError(f"source '{name}': 'fetch_pages' must be true or false, got {fetch_pages!r}",
                              marks.value("sources", i, "fetch_pages"))
        out["fetch_pages"] = fetch_pages
        cap = src.get("max_entries", 100)
        if isinstance(cap, bool) or not isinstance(cap, int) or cap <= 0:
            raise ConfigError(f"source '{name}': 'max_entries' must be a positive whole number, got {cap!r}",
                              marks.value("sources", i, "max_entries"))
        out["max_entries"] = cap
    fields = src.get("fields", {})
    if not isinstance(fields, dict) or not all(isinstance(k, str) and isinstance(v, str) and v
                                               for k, v in fields.items()):
        raise ConfigError(f"source '{name}': 'fields' must map our field names to yours, such as "
                          "{text: body, published_at: date}", marks.value("sources", i, "fields"))
    for key in fields:
        if key not in FIELD_NAMES:
            raise ConfigError(f"source '{name}': unknown field '{key}' in 'fields' (known: "
                              f"{', '.join(FIELD_NAMES)})", marks.key("sources", i, "fields", key))
    out["fields"] = tuple(sorted(fields.items()))
    return out


def _duration(raw: Any, key: str, loc: Location) -> float:
    value = parse_duration(raw)
    if value is None:
        raise ConfigError(f"'{key}' must be a duration such as 90, 30s, 15m, 2h or 1d, got {raw!r}", loc)
    return value


def _notify(raw: Any, marks: Marks) -> NotifyConfig | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ConfigError("'notify' must be a mapping with urls (and optionally min_level, mode, realert, "
                          "dedupe, retry)", marks.value("notify"))
    for key in raw:
        if key not in NOTIFY_KEYS:
            raise ConfigError(f"unknown key '{key}' in notify (allowed: {', '.join(sorted(NOTIFY_KEYS))})",
                              marks.key("notify", key))
    urls = raw.get("urls")
    if isinstance(urls, str):
        urls = [urls]
    if not isinstance(urls, list) or not urls or not all(isinstance(u, str) and u for u in urls):
        raise ConfigError("notify 'urls' must be a list of apprise URLs such as json://host/path or "
                          "mailto://user:pass@example.com", marks.value("notify", "urls") if "urls" in raw
                          else marks.value("notify"))
    import apprise  # only configs with notify pay for the import

    for i, url in enumerate(urls):
        if apprise.Apprise.instantiate(url) is None:
            raise ConfigError(f"notify: not a supported apprise URL: {url!r}",
                              marks.value("notify", "urls", i) if isinstance(raw["urls"], list)
                              else marks.value("notify", "urls"))
    level = raw.get("min_level", "medium")
    if level not in NOTIFY_LEVELS:
        raise ConfigError(f"notify 'min_level' must be one of {', '.join(NOTIFY_LEVELS)}, got {level!r}",
                          marks.value("notify", "min_level"))
    mode = raw.get("mode", "per-alert")
    if mode not in NOTIFY_MODES:
        raise ConfigError(f"notify 'mode' must be one of {', '.join(NOTIFY_MODES)}, got {mode!r}",
                          marks.value("notify", "mode"))
    dedupe = raw.get("dedupe", ["incident_id", "level"])
    if isinstance(dedupe, str):
        dedupe = [dedupe]
    if not isinstance(dedupe, list) or not dedupe or any(d not in DEDUPE_COLUMNS for d in dedupe):
        raise ConfigError(f"notify 'dedupe' must be a list of alert columns from {', '.join(DEDUPE_COLUMNS)}, "
                          f"got {dedupe!r}", marks.value("notify", "dedupe"))
    realert = raw.get("realert", "1d")
    realert_s = 0.0 if realert in (0, "0") else _duration(realert, "notify.realert",
                                                          marks.value("notify", "realert"))
    retry = _duration(raw.get("retry", 60), "notify.retry", marks.value("notify", "retry"))
    return NotifyConfig(tuple(urls), level, mode, realert_s, tuple(dedupe), retry)


def _int(data: dict[str, Any], key: str, marks: Marks, default: int) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"'{key}' must be a positive whole number, got {value!r} "
                          "(hint: in YAML write numbers without quotes)", marks.value(key))
    return value


def load_config(path: str | Path, database: str | Path | None = None) -> Config:
    """Read and validate ``config.yaml``; ``database`` overrides the configured file."""
    p = Path(path)
    if not p.exists():
        raise ConfigError("config file not found (pass --config PATH)", Location(str(p)))
    docs = load_yaml_file(p, ConfigError)
    data = docs[0].data if docs else {}
    marks = docs[0].marks if docs else Marks(str(p))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("config must be a mapping of setting: value", Location(str(p), 1, 1))
    known = {s.name for s in SETTINGS}
    for key in data:
        if key not in known:
            raise ConfigError(f"unknown setting '{key}' (known: {', '.join(sorted(known))})", marks.key(key))
    base = p.parent
    rules_raw = data.get("rules", ["rules"])
    if isinstance(rules_raw, str):
        rules_raw = [rules_raw]
    if not isinstance(rules_raw, list) or not all(isinstance(r, str) for r in rules_raw) or not rules_raw:
        raise ConfigError("'rules' must be a path or a list of paths", marks.value("rules"))
    db_raw = data.get("database", "monitor.db")
    if not isinstance(db_raw, str) or not db_raw:
        raise ConfigError("'database' must be a file path", marks.value("database"))
    sources: list[Source] = []
    raw_sources = data.get("sources") or []
    if not isinstance(raw_sources, list):
        raise ConfigError("'sources' must be a list of {name, kind, path}", marks.value("sources"))
    names: set[str] = set()
    for i, src in enumerate(raw_sources):
        if not isinstance(src, dict):
            raise ConfigError("a source must be a mapping with name, kind and path", marks.value("sources", i))
        for key in src:
            if key not in SOURCE_KEYS:
                raise ConfigError(f"unknown key '{key}' in source (allowed: {', '.join(sorted(SOURCE_KEYS))})",
                                  marks.key("sources", i, key))
        name, kind, spath = src.get("name"), src.get("kind"), src.get("path")
        if not isinstance(name, str) or not name:
            raise ConfigError("source needs a 'name'", marks.value("sources", i))
        if name in names:
            raise ConfigError(f"duplicate source name '{name}'", marks.value("sources", i, "name"))
        names.add(name)
        if kind not in SOURCE_KINDS:
            raise ConfigError(f"source '{name}': kind must be one of {', '.join(SOURCE_KINDS)}, got {kind!r}",
                              marks.value("sources", i, "kind") if "kind" in src else marks.value("sources", i))
        extras = _source_extras(src, name, kind, marks, i)
        if kind != "feed" and (not isinstance(spath, str) or not spath):
            raise ConfigError(f"source '{name}' needs a 'path'", marks.value("sources", i))
        every = parse_duration(src.get("every", DEFAULT_EVERY))
        if every is None:
            raise ConfigError(f"source '{name}': 'every' must be a duration such as 90, 30s, 15m, 2h or 1d, "
                              f"got {src.get('every')!r}", marks.value("sources", i, "every"))
        cron = src.get("cron")
        if cron is not None and (not isinstance(cron, str) or len(cron.split()) != 5):
            raise ConfigError(f"source '{name}': 'cron' must be a five-field crontab expression such as "
                              f"'*/15 * * * *', got {cron!r}", marks.value("sources", i, "cron"))
        sources.append(Source(name, kind, base / spath if isinstance(spath, str) else None, every=every, cron=cron,
                              **extras))
    db_path = Path(database) if database is not None else base / db_raw
    return Config(path=p, database=db_path, rules=[base / r for r in rules_raw], sources=sources,
                  max_file_bytes=_int(data, "max_file_bytes", marks, 5_000_000),
                  scan_batch=_int(data, "scan_batch", marks, 200),
                  http_timeout=_number(data, "http_timeout", marks, 10.0),
                  http_deadline=_number(data, "http_deadline", marks, 30.0),
                  max_response_bytes=_int(data, "max_response_bytes", marks, 5_000_000),
                  max_redirects=_int(data, "max_redirects", marks, 5),
                  host_delay=_number(data, "host_delay", marks, 1.0, zero_ok=True),
                  user_agent=_user_agent(data, marks),
                  incident_window_days=_int(data, "incident_window_days", marks, 30),
                  rescan_days=_rescan_days(data, marks),
                  rules_poll=_duration(data.get("rules_poll", 2.0), "rules_poll", marks.value("rules_poll")),
                  notify=_notify(data.get("notify"), marks))


def _user_agent(data: dict[str, Any], marks: Marks) -> str:
    value = data.get("user_agent", "monitor/0.1 (sanctions news monitor)")
    if not isinstance(value, str) or not value.strip() or "\n" in value:
        raise ConfigError("'user_agent' must be a one-line text", marks.value("user_agent"))
    return value.strip()


def _rescan_days(data: dict[str, Any], marks: Marks) -> int:
    value = data.get("rescan_days", 30)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"'rescan_days' must be a whole number of days (0 or more), got {value!r}",
                          marks.value("rescan_days"))
    return value
