"""Score the rules on a labelled corpus: article-level precision and recall.

An article counts as flagged when any rule raises an alert of level medium or
above (the product's "likely reports a violation" threshold). Usage:

    python benchmarks/accuracy.py                       # ../shared/corpus/dev, rules/
    python benchmarks/accuracy.py --corpus DIR --rules rules --explain

The corpus folder holds labels.yaml (file, label: violation | no_violation) and
the article files (line 1 is the title).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.alerts import make_alerts  # noqa: E402
from monitor.explain import explain  # noqa: E402
from monitor.ingest import read_path, make_record  # noqa: E402
from monitor.pipeline import Analyzer  # noqa: E402
from monitor.rules import load_rules  # noqa: E402
from monitor.ruletypes import level_rank  # noqa: E402

DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus" / "dev"
THRESHOLD = level_rank("medium")


def score(corpus: Path, rules: list[Path], show_explain: bool = False) -> dict:
    labels = yaml.safe_load((corpus / "labels.yaml").read_text(encoding="utf-8"))
    analyzer = Analyzer(load_rules(rules))
    counts: Counter = Counter()
    per_rule: dict[str, Counter] = {}
    errors = []
    for item in labels:
        path = corpus / item["file"]
        art = next(a for a in read_path(path) if hasattr(a, "text"))
        rec = make_record(art, "corpus")
        date = str(item.get("date", ""))[:10]
        analysis = analyzer.analyse(rec["text"], rec["title"], date)
        alerts = make_alerts(analysis, rec["id"], analyzer.ruleset.version)
        strong = [a for a in alerts if a["severity"] >= THRESHOLD]
        truth = item["label"] == "violation"
        flagged = bool(strong)
        outcome = {(True, True): "TP", (False, False): "TN", (False, True): "FP", (True, False): "FN"}[(truth, flagged)]
        counts[outcome] += 1
        for a in strong:
            per_rule.setdefault(a["rule_id"], Counter())["TP" if truth else "FP"] += 1
        if outcome in ("FP", "FN"):
            errors.append({"file": item["file"], "outcome": outcome, "kind": item.get("negative_kind", ""),
                           "alerts": [(a["rule_id"], a["level"], a["evidence"][:160]) for a in alerts],
                           "explain": [line for r in analyzer.ruleset.enabled_rules
                                       for line in explain(analyzer, r.id, rec["text"], rec["title"], date)]
                           if show_explain else []})
    tp, fp, fn, tn = counts["TP"], counts["FP"], counts["FN"], counts["TN"]
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {"articles": len(labels), "tp": tp, "fp": fp, "fn": fn, "tn": tn,
            "precision": round(precision, 3), "recall": round(recall, 3),
            "f1": round(2 * precision * recall / (precision + recall), 3) if precision + recall else 0.0,
            "per_rule": {r: dict(c) for r, c in sorted(per_rule.items())}, "errors": errors,
            "ruleset": analyzer.ruleset.version}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--rules", type=Path, nargs="+", default=[ROOT / "rules"])
    ap.add_argument("--explain", action="store_true", help="print `rules explain` output for each miss and false alarm")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    args = ap.parse_args()
    if not (args.corpus / "labels.yaml").exists():
        print(f"error: {args.corpus}/labels.yaml not found", file=sys.stderr)
        return 2
    r = score(args.corpus, args.rules, args.explain)
    if args.json:
        print(json.dumps(r, indent=2))
        return 0
    print(f"corpus: {args.corpus} ({r['articles']} articles), ruleset {r['ruleset']}, threshold: any alert >= medium")
    print(f"precision {r['precision']:.3f}  recall {r['recall']:.3f}  f1 {r['f1']:.3f}")
    print("confusion matrix (rows: label, columns: flagged)")
    print(f"                 flagged  not flagged")
    print(f"  violation      {r['tp']:>7}  {r['fn']:>11}")
    print(f"  no_violation   {r['fp']:>7}  {r['tn']:>11}")
    print("per rule (articles with an alert >= medium): " +
          ", ".join(f"{k}: TP {v.get('TP', 0)} FP {v.get('FP', 0)}" for k, v in r["per_rule"].items()))
    for e in r["errors"]:
        print(f"\n{e['outcome']} {e['file']} {e['kind']}")
        for rule, level, ev in e["alerts"]:
            print(f"  alert {rule} [{level}]: {ev}")
        for line in e["explain"]:
            print(f"    {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
