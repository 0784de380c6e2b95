"""Score the rules on a labelled corpus: article-level precision and recall.

An article counts as flagged when any rule raises an alert of level medium or
above (the product's "likely reports a violation" threshold). Role accuracy:
for each violation article whose label names a supplier or recipient that the
states list knows (``parties`` field, matched with the list's own aliases), the
side counts as correct when the flagged alerts' role (highest severity first)
names one of those entries; a missing or different id is wrong. Usage:

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
from monitor.errors import MonitorError  # noqa: E402
from monitor.explain import explain  # noqa: E402
from monitor.document import make_document  # noqa: E402
from monitor.ingest import read_path, make_record  # noqa: E402
from monitor.pipeline import Analyzer  # noqa: E402
from monitor.rules import load_rules  # noqa: E402
from monitor.ruletypes import level_rank  # noqa: E402

DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus" / "dev"
THRESHOLD = level_rank("medium")


def label_ids(analyzer: Analyzer, text: str) -> set[str]:
    """Entry ids of the ``states`` list named in a label's free-text party description."""
    if not text or text.lower().startswith(("not stated", "unspecified", "unnamed")):
        return set()
    raw = analyzer.matcher.raw_hits(make_document(text))
    tl = analyzer.ruleset.lists.get("states")
    if tl is None:
        return set()
    return {tl.entries[r.source.entry].id for r in raw.get("L:states", []) if r.source.kind != "context"}


def predicted_side(alerts: list[dict], side: str) -> str:
    for a in sorted(alerts, key=lambda a: -a["severity"]):
        if a.get(side):
            return a[side]
    return ""


def score(corpus: Path, rules: list[Path], show_explain: bool = False) -> dict:
    labels = yaml.safe_load((corpus / "labels.yaml").read_text(encoding="utf-8"))
    analyzer = Analyzer(load_rules(rules))
    counts: Counter = Counter()
    per_rule: dict[str, Counter] = {}
    errors = []
    roles_total = roles_ok = 0
    role_rows = []
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
        if truth:
            for side in ("supplier", "recipient"):
                want = label_ids(analyzer, str((item.get("parties") or {}).get(side, "")))
                if not want:
                    continue
                got = predicted_side(strong, side)
                roles_total += 1
                roles_ok += got in want
                role_rows.append({"file": item["file"], "side": side, "want": sorted(want), "got": got, "ok": got in want})
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
            "role_accuracy": round(roles_ok / roles_total, 3) if roles_total else 0.0, "role_sides": roles_total,
            "roles": role_rows,
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
    try:
        r = score(args.corpus, args.rules, args.explain)
    except MonitorError as exc:  # a broken rule file: path:line: message, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(r, indent=2))
        return 0
    print(f"corpus: {args.corpus} ({r['articles']} articles), ruleset {r['ruleset']}, threshold: any alert >= medium")
    print(f"precision {r['precision']:.3f}  recall {r['recall']:.3f}  f1 {r['f1']:.3f}")
    print("confusion matrix (rows: label, columns: flagged)")
    print("                 flagged  not flagged")
    print(f"  violation      {r['tp']:>7}  {r['fn']:>11}")
    print(f"  no_violation   {r['fp']:>7}  {r['tn']:>11}")
    print("per rule (articles with an alert >= medium; precision of the rule alone):")
    for k, v in r["per_rule"].items():
        tp, fp = v.get("TP", 0), v.get("FP", 0)
        if tp or fp:
            print(f"  {k:<36} TP {tp:>3}  FP {fp:>3}  precision {tp / (tp + fp):.3f}")
    print(f"role accuracy {r['role_accuracy']:.3f} over {r['role_sides']} labelled sides (supplier/recipient)")
    for row in r["roles"]:
        if not row["ok"]:
            print(f"  role miss {row['file']} {row['side']}: expected {'/'.join(row['want'])}, got {row['got'] or 'none'}")
    for e in r["errors"]:
        print(f"\n{e['outcome']} {e['file']} {e['kind']}")
        for rule, level, ev in e["alerts"]:
            print(f"  alert {rule} [{level}]: {ev}")
        for line in e["explain"]:
            print(f"    {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
