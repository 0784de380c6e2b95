"""Cost of incident grouping per article (near-duplicate signature + LSH lookup + regrouping + correlations).

    python benchmarks/incidents.py [--articles 1000] [--reprints 0.3] [--rules rules]

Generates news-like articles about a few dozen invented shipments (pairs of states),
a share of them reprints of earlier articles with small edits, spread over 120 days;
ingests and scans them, then regroups every alerted article from scratch and prints
milliseconds per article, the incidents and copy clusters found.
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

from monitor.incidents import Grouper  # noqa: E402
from monitor.ingest import ArticleIn, make_record  # noqa: E402
from monitor.neardup import signature  # noqa: E402
from monitor.pipeline import Analyzer  # noqa: E402
from monitor.rules import load_rules  # noqa: E402
from monitor.scan import scan_pending  # noqa: E402
from monitor.store import Store  # noqa: E402

SUPPLIERS = ["North Korea", "Iran", "Belarus", "Eritrea"]
RECIPIENTS = ["Russia", "Syria", "the Houthis", "Libya", "Sudan", "Myanmar", "Venezuela"]
ARMS = ["artillery shells", "rockets", "attack drones", "rifles", "ballistic missiles", "armoured vehicles"]
VERBS = ["shipped", "sold", "delivered", "supplied", "exported"]
WORDS = ("port officials manifest vessel cargo convoy report panel intelligence satellite images crates night "
         "customs investigators diplomats embassy ministry statement briefing analysts shipping agents route "
         "insurance filings front companies payment oil cash harbour airfield inspection flag registry").split()


def prose(rnd: random.Random, n: int) -> str:
    sents = []
    for _ in range(n):
        ws = [rnd.choice(WORDS) for _ in range(rnd.randint(10, 22))]
        sents.append(" ".join(ws).capitalize() + ".")
    return " ".join(sents)


def make_corpus(n: int, share: float, seed: int = 11) -> list[ArticleIn]:
    rnd = random.Random(seed)
    out: list[ArticleIn] = []
    for i in range(n):
        day = rnd.randint(0, 119)
        if out and rnd.random() < share:
            src = rnd.choice(out)
            words = src.text.split()
            j = rnd.randrange(len(words))
            words[j] = rnd.choice(WORDS)  # a small edit
            text = " ".join(words) + "\nSubscribe to our newsletter for more."
            out.append(ArticleIn(title="Reprint: " + src.title, text=text, url=f"https://outlet{i % 40}.example/{i}",
                                 published_at=src.published_at, source="bench", origin=f"gen:{i}", format="json"))
            continue
        s, r, a, v = rnd.choice(SUPPLIERS), rnd.choice(RECIPIENTS), rnd.choice(ARMS), rnd.choice(VERBS)
        text = f"{prose(rnd, 3)}\n{s} {v} {a} to {r}, according to the report. {prose(rnd, 6)}"
        out.append(ArticleIn(title=f"{s} and {r}: {prose(rnd, 1)[:60]}", text=text,
                             url=f"https://outlet{i % 40}.example/{i}",
                             published_at=f"2025-{1 + day // 30:02d}-{1 + day % 28:02d}T08:00:00Z",
                             source="bench", origin=f"gen:{i}", format="json"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--articles", type=int, default=1000)
    ap.add_argument("--reprints", type=float, default=0.3)
    ap.add_argument("--rules", default=str(ROOT / "rules"))
    args = ap.parse_args()
    ruleset = load_rules([args.rules])
    corpus = make_corpus(args.articles, args.reprints)
    t0 = time.perf_counter()
    for art in corpus[:200]:
        signature(art.text)
    sig_ms = (time.perf_counter() - t0) * 1000 / min(200, len(corpus))
    with tempfile.TemporaryDirectory() as tmp, Store.open(Path(tmp) / "bench.db") as store:
        for art in corpus:
            store.add_article(make_record(art, "bench"))
        t0 = time.perf_counter()
        scan_pending(store, Analyzer(ruleset))
        scan_s = time.perf_counter() - t0
        with store.transaction() as db:  # regroup everything from scratch, timing grouping alone
            for table in ("incidents", "article_signatures", "article_bands", "correlation_hits", "correlation_members"):
                db.execute(f"delete from [{table}]")
            db.execute("update alerts set incident_id = null, incident_key = null")
        grouper = Grouper(ruleset)
        t0 = time.perf_counter()
        grouped = grouper.catch_up(store)
        group_s = time.perf_counter() - t0
        n_alerts = store.count("alerts")
        print(f"articles: {len(corpus):,} ({args.reprints:.0%} reprints), with alerts: {grouped:,}, alerts: {n_alerts:,}")
        print(f"scan incl. grouping: {scan_s * 1000 / len(corpus):.2f} ms/article")
        print(f"grouping alone: {group_s * 1000 / max(grouped, 1):.2f} ms per alerted article "
              f"({group_s:.2f} s total); MinHash signature alone: {sig_ms:.2f} ms/article")
        print(f"incidents: {store.count('incidents'):,}, copy clusters: "
              f"{store.query('select count(distinct cluster_id) as n from article_signatures')[0]['n']:,}, "
              f"correlation firings: {store.count('correlation_hits'):,}")


if __name__ == "__main__":
    main()
