"""Ingest throughput of folder and JSON Lines sources: articles/s at tens of thousands of articles.

    python benchmarks/ingest.py [--articles 20000]

Generates ~2 KB news-like articles in a temporary folder (one .txt file each, plus
one JSON Lines export holding the same number of different articles), then times
``ingest_source`` into a fresh SQLite file: the first pass (decode, repair, hash,
dedup, store), and a second pass over unchanged files (state lookups only).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.config import load_config  # noqa: E402
from monitor.sources import ingest_source  # noqa: E402
from monitor.store import Store  # noqa: E402

WORDS = ("the ministry said officials cargo vessel port shipment customs inspectors report week statement "
         "according to sources a in on and of for with was were had been by at from new said on Tuesday "
         "ministry’s “clear” café Zürich").split()  # some non-ASCII, as real news has


def article(rng: random.Random, i: int) -> tuple[str, str]:
    sentences = []
    for _ in range(rng.randint(14, 22)):
        words = [rng.choice(WORDS) for _ in range(rng.randint(10, 20))]
        sentences.append(" ".join(words).capitalize() + f" ({i}).")
    paras = [" ".join(sentences[k:k + 4]) for k in range(0, len(sentences), 4)]
    return f"Report number {i} on shipments", "\n\n".join(paras)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--articles", type=int, default=20_000)
    args = ap.parse_args()
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        folder = base / "drop"
        for i in range(args.articles):
            sub = folder / f"{i // 1000:03d}"
            sub.mkdir(parents=True, exist_ok=True)
            title, text = article(rng, i)
            (sub / f"article {i}.txt").write_text(f"{title}\n\n{text}\n", encoding="utf-8")
        export = base / "export.jsonl"
        with export.open("w", encoding="utf-8") as fh:
            for i in range(args.articles, 2 * args.articles):
                title, text = article(rng, i)
                fh.write(json.dumps({"title": title, "text": text, "url": f"https://news.example.invalid/{i}",
                                     "published_at": "2025-03-04T10:00:00Z", "source": "Example Wire"}) + "\n")
        mb = (sum(f.stat().st_size for f in folder.rglob("*.txt")) / 1e6, export.stat().st_size / 1e6)
        cfg = base / "config.yaml"
        cfg.write_text(f"database: bench.db\nrules: [{ROOT / 'rules'}]\nsources:\n"
                       f"  - {{name: drop, kind: folder, path: {folder}}}\n"
                       f"  - {{name: export, kind: jsonl, path: {export}}}\n", encoding="utf-8")
        config = load_config(cfg)
        print(f"{args.articles:,} articles per source (folder {mb[0]:.1f} MB in {args.articles:,} files, "
              f"JSON Lines {mb[1]:.1f} MB in one file)")
        with Store.open(config.database) as store:
            for src, size in zip(config.sources, mb):
                for label in ("first pass", "unchanged"):
                    t0 = time.perf_counter()
                    r = ingest_source(config, store, src)
                    dt = time.perf_counter() - t0
                    if label == "first pass":
                        print(f"{src.kind:>6} first pass: {dt:6.2f} s  {r.added / dt:7,.0f} articles/s  "
                              f"{size / dt:5.2f} MB/s  (added {r.added:,}, errors {r.errors})")
                    else:
                        print(f"{src.kind:>6} unchanged : {dt:6.2f} s  to skip {r.unchanged:,} unchanged file(s) "
                              f"(added {r.added:,})")


if __name__ == "__main__":
    main()
