"""Test texts and helpers for incidents, near-duplicates and correlations.

Every story here was written for these tests: a wire story about one (invented)
shipment and its edited reprints, independent write-ups of the same shipment,
and stories about other shipments.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from monitor.pipeline import Analyzer
from monitor.rules import load_rules
from monitor.scan import ingest_paths, scan_pending
from monitor.store import Store
from conftest import rows  # noqa: F401  (re-exported for the incident tests)

REPO = Path(__file__).resolve().parent.parent
RULE = "arms_transfer_embargoed_state"

WIRE_TITLE = "North Korea ships artillery shells to Syria, officials say"
WIRE = """North Korea shipped thousands of artillery shells to Syria in late spring, two officials familiar with port records said on Tuesday.
The cargo left the port of Nampo aboard a general cargo vessel that switched off its transponder for eleven days before reaching Tartus.
One of the officials, who asked not to be named because the records are not public, said the crates were declared as construction materials.
The shipment would be the largest of its kind documented this year, the officials said, and investigators are comparing manifests with satellite imagery of the berth.
Diplomats said a panel of experts had requested the vessel's logbook from the flag registry but had not yet received a reply.
Neither government responded to requests for comment on Tuesday."""

REPRINTS = [  # (outlet URL, title, text): the wire story with small edits, new headlines and boilerplate
    ("https://www.dailyharbour.example/world/nk-shells", "Pyongyang sends shells to Damascus by sea",
     WIRE.replace("on Tuesday", "this week") + "\nSubscribe to our morning briefing for the day's top stories."),
    ("https://globe-wire.example/a/123", WIRE_TITLE + " | Globe Wire",
     WIRE.replace("eleven days", "about eleven days").replace("Neither government responded to requests for comment on Tuesday.", "")
     + "\nCopyright 2025 Globe Wire. All rights reserved. This material may not be redistributed."),
    ("https://news.example.org/2025/06/03/shells", "REPORT: North Korea shipped shells to Syria",
     "By Staff and Wire Reports\n" + WIRE.replace("two officials", "two U.S. officials")),
]

INDEPENDENT = [  # (outlet URL, title, text): separately reported accounts of the same shipment
    ("https://maritime-review.example/tartus", "Satellite images show North Korean cargo unloading at Tartus",
     """Commercial satellite images reviewed by our analysts show a cargo ship from Nampo moored at Tartus for three days.
Crates consistent with ammunition packaging were stacked on the quay, and the ship left lighter in the water.
Analysts said the North Korean vessel had delivered artillery shells to Syria, though the exact quantity remains unconfirmed.
The vessel's owner is a Pyongyang-registered company already listed by the Security Council committee."""),
    ("https://eveningstar.example/politics/arms", "Lawmakers demand answers over Syria arms shipment",
     """Members of the foreign affairs committee asked the government on Wednesday to explain how a vessel carrying munitions slipped past patrols.
Their letter cites intelligence that North Korea sold artillery shells to Syria and that the cargo was offloaded at a Mediterranean port.
The chairwoman said enforcement of the embargo had been lax for years and demanded a briefing before the summer recess."""),
    ("https://regional-monitor.example/levant/0604", "Dockworkers describe night-time unloading of weapons crates",
     """Three dockworkers interviewed by telephone described crates with stencilled Korean lettering being moved at night under guard.
A port official acknowledged that Syria received a consignment of artillery shells from North Korea but called it a routine commercial delivery.
The workers said military trucks collected the crates before dawn on each of three nights."""),
    ("https://frontline-post.example/asia/shells", "Pyongyang's shell exports reach the Mediterranean",
     """Researchers tracking ammunition flows say North Korea exported artillery shells to Syria in a shipment that broke with the country's usual overland routes.
The report, published on Thursday, draws on customs leaks, insurance filings and interviews with shipping agents in three countries.
It concludes that the consignment was paid for partly in oil and partly in cash transferred through front companies."""),
]

OTHER_PAIR = ("https://gulf-desk.example/yemen", "Iran delivered attack drones to the Houthis, panel finds",
              """A confidential panel report says Iran delivered attack drones and cruise missile parts to the Houthis over the past year.
The components were smuggled in small dhows and assembled near the coast, according to the report.
Iranian officials rejected the findings as politically motivated.""")

LOW_TITLE = "Analysts warn Pyongyang could sell more shells to Damascus"
LOW_TEXT = """Analysts said North Korea could sell more artillery shells to Syria if the vessel inspections remain lax.
The warning came in a briefing paper released on Friday by a research institute."""


def article(url: str, title: str, text: str, published: str, source: str = "") -> dict[str, Any]:
    return {"url": url, "title": title, "text": text, "published_at": published, "source": source}


def write_articles(folder: Path, items: list[dict[str, Any]], start: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, item in enumerate(items, start):
        p = folder / f"a{i:03d}.json"
        p.write_text(json.dumps(item), encoding="utf-8")
        paths.append(p)
    return paths


_RULESET = None


def ruleset() -> Any:
    global _RULESET
    if _RULESET is None:
        _RULESET = load_rules([REPO / "rules"])
    return _RULESET


def ingest_and_scan(db: Path, paths: list[Path], window_days: int = 30) -> None:
    """Ingest ``paths`` and scan, in one short-lived Store (like one ``monitor`` command)."""
    with Store.open(db) as store:
        ingest_paths(store, paths, "test")
        scan_pending(store, Analyzer(ruleset()), incident_window_days=window_days)



def execute(db: Path, sql: str, params: tuple = ()) -> None:
    conn = sqlite3.connect(db)
    try:
        conn.execute(sql, params)
        conn.commit()
    finally:
        conn.close()


def incidents_of(db: Path, rule: str = RULE) -> list[dict[str, Any]]:
    return rows(db, "select * from incidents where rule_id = ? order by first_seen", (rule,))


def grouping(db: Path, rule: str = RULE) -> set[tuple]:
    """Incidents as order-free facts: (article urls, first_seen, last_seen, articles, sources, level)."""
    out = set()
    for inc in incidents_of(db, rule):
        urls = frozenset(r["url"] for r in rows(
            db, "select ar.url from alerts a join articles ar on ar.id = a.article_id where a.incident_id = ?",
            (inc["id"],)))
        out.add((urls, inc["first_seen"], inc["last_seen"], inc["articles"], inc["sources"], inc["level"]))
    return out

