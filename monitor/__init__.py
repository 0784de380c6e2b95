"""monitor: a sanctions-violation monitoring rules engine.

Library first: load a config and rules, open a store, run a cycle::

    from monitor import load_config, load_rules, Store, Analyzer, run_once
    config = load_config("config.yaml")
    ruleset = load_rules(config.rules)
    with Store.open(config.database) as store:
        ingest, scan = run_once(config, store, Analyzer(ruleset))
"""

from .config import Config, load_config
from .errors import ConfigError, EngineError, IngestError, Location, MonitorError, RuleError, StoreError
from .pipeline import Analysis, Analyzer, RuleMatch
from .rules import lint_rules, load_rules
from .ruletypes import Rule, RuleSet
from .scan import ingest_paths, run_once, scan_pending
from .store import Store

__all__ = [
    "Analysis", "Analyzer", "Config", "ConfigError", "EngineError", "IngestError", "Location", "MonitorError",
    "Rule", "RuleError", "RuleMatch", "RuleSet", "Store", "StoreError", "ingest_paths", "lint_rules",
    "load_config", "load_rules", "run_once", "scan_pending",
]
