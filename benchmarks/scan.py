"""Scan throughput on a generated corpus: articles/s and MB/s, pipeline only and with the store.

    python benchmarks/scan.py [--articles 2000] [--rules rules]

Articles are ~4 KB of generated news-like prose; about one in five carries a
sanctions-relevant sentence so rules have real work to do.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.ingest import ArticleIn, make_record  # noqa: E402
from monitor.pipeline import Analyzer  # noqa: E402
from monitor.rules import load_rules  # noqa: E402
from monitor.scan import scan_pending  # noqa: E402
from monitor.store import Store  # noqa: E402

FILLER = [
    "The ministry said the figures would be published next week after a review by independent auditors.",
    "Local officials told reporters that the new bridge would ease traffic in the northern districts.",
    "Markets in Asia closed higher on Tuesday as investors weighed fresh data on factory output.",
    "The delegation met business leaders and university students during a two-day visit to the capital.",
    "Heavy rain is expected across the region, and forecasters urged residents to avoid river banks.",
    "A spokesperson declined to comment on the talks, saying only that discussions were continuing.",
    "Analysts said the decision reflected growing concern about inflation and the cost of borrowing.",
    "The company plans to open three new plants and hire about 2,000 workers over the next two years.",
]
SIGNAL = [
    "North Korea shipped artillery shells and rockets to Russia by rail, officials said.",
    "Russia is buying millions of rounds of ammunition from North Korea, according to intelligence.",
    "Iranian-made Shahed-136 drones were delivered to Russia across the Caspian Sea.",
    "A navy patrol seized a dhow smuggling rifles and missile parts to the Houthis in Yemen.",
    "The panel found that cargo flights delivered armoured vehicles to Libya in violation of the arms embargo.",
    "Diplomats said any sale of missiles by Pyongyang would violate Security Council resolution 1718.",
    "North Korea denied selling weapons to Moscow and called the report baseless.",
]


def make_corpus(n: int, seed: int = 7) -> list[ArticleIn]:
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        paras = []
        for _ in range(8):
            sents = [rnd.choice(FILLER) for _ in range(5)]
            if rnd.random() < 0.03:
                sents[rnd.randrange(5)] = rnd.choice(SIGNAL)
            paras.append(" ".join(sents))
        out.append(ArticleIn(title=f"Generated report {i}: regional news roundup", text="\n\n".join(paras),
                             published_at="2025-01-01T00:00:00Z", source="bench"))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--articles", type=int, default=2000)
    ap.add_argument("--rules", type=Path, default=ROOT / "rules")
    args = ap.parse_args()
    corpus = make_corpus(args.articles)
    records = [make_record(a, "bench") for a in corpus]
    mb = sum(len((r["title"] + r["text"]).encode()) for r in records) / 1e6
    ruleset = load_rules([args.rules])
    t0 = time.perf_counter()
    analyzer = Analyzer(ruleset)
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    fired = 0
    for r in records:
        fired += len(analyzer.analyse(r["text"], r["title"], r["published_at"]).fired())
    dt = time.perf_counter() - t0
    print(f"corpus: {len(records):,} articles, {mb:.1f} MB, {len(ruleset.enabled_rules)} rules, "
          f"{sum(len(e.aliases) + len(e.acronyms) + len(e.weak_aliases) + len(e.context_aliases) for tl in ruleset.lists.values() for e in tl.entries):,} list terms")
    print(f"build analyzer: {build * 1000:.0f} ms")
    print(f"pipeline only: {len(records) / dt:,.0f} articles/s, {mb / dt:.2f} MB/s ({fired:,} rule matches)")
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp) / "bench.db")
        for r in records:
            store.add_article(r)
        t0 = time.perf_counter()
        report = scan_pending(store, analyzer)
        dt = time.perf_counter() - t0
        store.close()
    print(f"scan with store (read, analyse, write alerts, mark scanned): {report.scanned / dt:,.0f} articles/s, "
          f"{mb / dt:.2f} MB/s ({report.alerts_new:,} alerts)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
