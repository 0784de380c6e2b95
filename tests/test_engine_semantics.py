"""Rule semantics end to end through ``Analyzer.analyse``: exceptions, operators, near, scopes.

One ruleset (written to a tmp folder) holds a rule per behaviour; each test
analyses short texts with ``rules=[id]`` and checks what fired, on which unit,
at which level and why.
"""

from __future__ import annotations

import pytest

from monitor.pipeline import Analysis, Analyzer, RuleMatch
from monitor.rules import load_rules

LISTS = """\
kind: list
id: kit
title: Test vocabulary
entries:
  - id: arms
    aliases: [rifles, drones, artillery shells]
  - id: transfer
    aliases: [shipped, sold, delivered]
  - id: state
    aliases: [Iran, North Korea]
---
kind: list
id: cues
title: Qualifier cues
entries:
  - id: negation
    aliases: [not, never]
  - id: denial
    aliases: [denied]
  - id: hypothetical
    aliases: [would, could]
"""

ARMS = "arms: {list: kit, entries: [arms]}"
TRANSFER = "transfer: {list: kit, entries: [transfer]}"
STATE = "state: {list: kit, entries: [state]}"


def _rule(rid: str, scope: str, patterns: list[str], match: str, extra: str = "", level: str = "high") -> str:
    pats = "\n".join(f"  {p}" for p in patterns)
    return (f"kind: rule\nid: {rid}\ntitle: {rid}\nlevel: {level}\nscope: {scope}\npatterns:\n{pats}\n"
            f"match: {match}\n{extra}")


RULES = [
    _rule("claim", "sentence", [STATE, ARMS, TRANSFER], "{all: [state, arms, transfer]}", """\
exceptions:
  - name: negated
    cues: {list: cues, entries: [negation]}
    of: [transfer]
    within: 2
    direction: before
    effect: suppress
  - name: denied
    cues: {list: cues, entries: [denial]}
    effect: {level: low, note: denied by a party}
  - name: hypothetical
    cues: {list: cues, entries: [hypothetical]}
    of: [transfer]
    within: 3
    direction: before
    effect: {level: medium, note: hypothetical}
"""),
    _rule("after_cue", "sentence", [ARMS], "arms", """\
exceptions:
  - name: never_after
    cues: {list: cues, entries: [negation]}
    of: [arms]
    within: 2
    direction: after
    effect: suppress
"""),
    _rule("seen_not_moved", "sentence", [ARMS, TRANSFER], "{all: [arms, {not: transfer}]}"),
    _rule("state_only", "sentence", [STATE, ARMS, TRANSFER], "{all: [state, {not: {any: [arms, transfer]}}]}"),
    _rule("two_of_three", "sentence", [STATE, ARMS, TRANSFER], "{at_least: {n: 2, of: [state, arms, transfer]}}"),
    _rule("fewer_than_two", "sentence", [STATE, ARMS, TRANSFER],
          "{all: [state, {not: {at_least: {n: 2, of: [state, arms, transfer]}}}]}"),
    _rule("near3", "sentence", [ARMS, TRANSFER], "{near: {patterns: [arms, transfer], within: 3}}"),
    _rule("far_apart", "sentence", [ARMS, TRANSFER],
          "{all: [arms, transfer, {not: {near: {patterns: [arms, transfer], within: 3}}}]}"),
    _rule("in_sentence", "sentence", [ARMS, TRANSFER], "{all: [arms, transfer]}"),
    _rule("in_paragraph", "paragraph", [ARMS, TRANSFER], "{all: [arms, transfer]}"),
    _rule("in_document", "document", [ARMS, TRANSFER], "{all: [arms, transfer]}"),
    _rule("in_window", "{window: 4}", [ARMS, TRANSFER], "{all: [arms, transfer]}"),
    _rule("council_anywhere", "sentence", [ARMS, "council: {terms: [Security Council], scope: document}"],
          "{all: [arms, council]}"),
    _rule("council_here", "sentence", [ARMS, "council: {terms: [Security Council]}"], "{all: [arms, council]}"),
    _rule("fiction", "sentence", [ARMS], "arms", """\
exceptions:
  - name: novel
    cues: {terms: [novel], scope: document}
    effect: suppress
  - name: film
    cues: {terms: [film]}
    effect: suppress
"""),
]


@pytest.fixture(scope="module")
def analyzer(tmp_path_factory: pytest.TempPathFactory) -> Analyzer:
    folder = tmp_path_factory.mktemp("semantics_rules")
    (folder / "lists.yaml").write_text(LISTS, encoding="utf-8")
    (folder / "rules.yaml").write_text("\n---\n".join(RULES), encoding="utf-8")
    ruleset = load_rules([folder])
    assert len(ruleset.rules) == len(RULES)
    return Analyzer(ruleset)


def run(analyzer: Analyzer, rule: str, text: str, title: str = "") -> Analysis:
    analysis = analyzer.analyse(text, title, rules=[rule])
    assert all(m.rule.id == rule for m in analysis.matches)
    return analysis


def fired_units(analyzer: Analyzer, rule: str, text: str) -> list[str]:
    """The text of every unit on which ``rule`` fired (not suppressed)."""
    analysis = run(analyzer, rule, text)
    return [analysis.document.text[m.unit.start:m.unit.end] for m in analysis.fired()]


def fires(analyzer: Analyzer, rule: str, text: str) -> bool:
    return bool(fired_units(analyzer, rule, text))


def only(analysis: Analysis) -> RuleMatch:
    assert len(analysis.matches) == 1, analysis.matches
    return analysis.matches[0]


# ---------------------------------------------------------------- exceptions

def test_plain_match_has_rule_level_and_no_qualifiers(analyzer: Analyzer) -> None:
    m = only(run(analyzer, "claim", "Iran shipped drones to Russia."))
    assert m.fired and m.level == "high"
    assert m.suppressed_by == [] and m.lowered_by == [] and m.notes == []
    assert [h.text for h in m.hits["transfer"]] == ["shipped"]


def test_suppress_exception_suppresses_and_is_named(analyzer: Analyzer) -> None:
    analysis = run(analyzer, "claim", "Iran has not shipped drones to Russia.")
    m = only(analysis)
    assert not m.fired
    assert m.suppressed_by == ["negated"]
    assert analysis.fired() == [] and analysis.best("claim") is None
    assert [h.text for h in m.hits["negated.cues"]] == ["not"]


def test_suppress_respects_within_and_direction(analyzer: Analyzer) -> None:
    # "not" right before the transfer (1 and 2 words): suppressed.
    assert not fires(analyzer, "claim", "Iran not shipped drones.")
    assert not fires(analyzer, "claim", "Iran never quietly shipped drones.")
    # 3 words before: outside within 2.
    assert fires(analyzer, "claim", "Iran never, quite frankly, shipped drones.")
    # After the transfer: direction before does not look there.
    assert fires(analyzer, "claim", "Iran shipped drones, not rifles.")
    # In another sentence: not in the unit.
    assert fires(analyzer, "claim", "It is not news. Iran shipped drones.")


def test_direction_after(analyzer: Analyzer) -> None:
    assert not fires(analyzer, "after_cue", "Rifles, never used, were found.")
    assert fires(analyzer, "after_cue", "Never before were rifles found.")
    assert fires(analyzer, "after_cue", "Rifles were found, never mind.")  # 3 words after


def test_lowering_exception_lowers_the_level_and_adds_its_note(analyzer: Analyzer) -> None:
    analysis = run(analyzer, "claim", "Iran denied that it shipped drones.")
    m = only(analysis)
    assert m.fired and m.level == "low"
    assert m.lowered_by == ["denied"] and m.notes == ["denied by a party"]
    assert m.suppressed_by == []
    assert analysis.best("claim") is m


def test_two_lowering_exceptions_take_the_lowest_level_and_both_notes(analyzer: Analyzer) -> None:
    m = only(run(analyzer, "claim", "Iran would have shipped drones."))
    assert (m.level, m.lowered_by, m.notes) == ("medium", ["hypothetical"], ["hypothetical"])
    m = only(run(analyzer, "claim", "Iran denied it would have shipped drones."))
    assert m.level == "low"
    assert sorted(m.lowered_by) == ["denied", "hypothetical"]
    assert sorted(m.notes) == ["denied by a party", "hypothetical"]


def test_suppression_wins_over_lowering(analyzer: Analyzer) -> None:
    m = only(run(analyzer, "claim", "Iran denied it had not shipped drones."))
    assert m.suppressed_by == ["negated"]
    assert m.lowered_by == [] and m.notes == [] and not m.fired


def test_exceptions_apply_per_unit(analyzer: Analyzer) -> None:
    analysis = run(analyzer, "claim", "Iran has not shipped drones. North Korea shipped rifles. Iran denied it sold rifles.")
    units = {analysis.document.text[m.unit.start:m.unit.end]: (m.fired, m.level, m.suppressed_by)
             for m in analysis.matches}
    assert units == {
        "Iran has not shipped drones.": (False, "high", ["negated"]),
        "North Korea shipped rifles.": (True, "high", []),
        "Iran denied it sold rifles.": (True, "low", []),
    }
    assert analysis.best("claim").level == "high"  # type: ignore[union-attr]



def test_a_scoped_exception_needs_every_word_it_qualifies(analyzer: Analyzer) -> None:
    # "not" qualifies "shipped" only; "sold" is reported unqualified, so the claim stands.
    m = only(run(analyzer, "claim", "Iran has not shipped drones but sold rifles."))
    assert m.fired and m.suppressed_by == [] and m.level == "high"
    # every transfer word qualified by the same cue: suppressed as before
    assert not only(run(analyzer, "claim", "Iran has not shipped drones.")).fired


def test_scoped_exceptions_cover_the_words_together(analyzer: Analyzer) -> None:
    # "would" qualifies "sold", "not" qualifies "shipped": no transfer word is left as a report,
    # so both fire and the suppression wins.
    m = only(run(analyzer, "claim", "Iran would have sold rifles and has not shipped drones."))
    assert m.suppressed_by == ["negated"] and not m.fired
    # with a report left over ("delivered"), neither fires
    m = only(run(analyzer, "claim", "Iran would have sold rifles, has not shipped drones and delivered shells."))
    assert m.fired and m.suppressed_by == [] and m.lowered_by == [] and m.level == "high"


# ---------------------------------------------------------------- not / at_least

def test_not_of_a_pattern(analyzer: Analyzer) -> None:
    assert fired_units(analyzer, "seen_not_moved", "Drones were seen. Drones were shipped.") == ["Drones were seen."]
    assert not fires(analyzer, "seen_not_moved", "Nothing here. Shipped goods.")


def test_not_of_any(analyzer: Analyzer) -> None:
    assert fires(analyzer, "state_only", "Iran protested.")
    assert not fires(analyzer, "state_only", "Iran shipped oil.")
    assert not fires(analyzer, "state_only", "Iran bought drones.")
    assert fired_units(analyzer, "state_only", "Iran bought drones. North Korea protested.") == ["North Korea protested."]


def test_at_least(analyzer: Analyzer) -> None:
    assert not fires(analyzer, "two_of_three", "Iran protested.")
    assert not fires(analyzer, "two_of_three", "Drones flew.")
    assert fires(analyzer, "two_of_three", "Iran bought drones.")
    assert fires(analyzer, "two_of_three", "Drones were delivered.")
    assert fires(analyzer, "two_of_three", "Iran delivered drones.")
    # Two of the same pattern are still one clause.
    assert not fires(analyzer, "two_of_three", "Drones and rifles flew.")


def test_not_at_least(analyzer: Analyzer) -> None:
    assert fires(analyzer, "fewer_than_two", "Iran protested.")
    assert not fires(analyzer, "fewer_than_two", "Iran bought drones.")
    assert not fires(analyzer, "fewer_than_two", "Drones were delivered.")


# ---------------------------------------------------------------- near

@pytest.mark.parametrize("text, expected", [
    ("Drones shipped.", True),                    # 1 word apart
    ("Drones were quietly shipped.", True),       # 3 words apart: within 3
    ("Drones were very quietly shipped.", False),  # 4 words apart
    ("Shipped were many drones.", True),          # order does not matter
    ("Shipped were not many drones.", False),
    ("Drones arrived, shipped later.", True),     # punctuation is not a word
])
def test_near_within_n_words(analyzer: Analyzer, text: str, expected: bool) -> None:
    assert fires(analyzer, "near3", text) is expected


def test_near_uses_the_closest_pair(analyzer: Analyzer) -> None:
    assert fires(analyzer, "near3", "Drones were counted, then many more rifles got shipped.")


def test_not_near(analyzer: Analyzer) -> None:
    assert not fires(analyzer, "far_apart", "Drones were quietly shipped.")
    assert fires(analyzer, "far_apart", "Drones were very quietly shipped.")


# ---------------------------------------------------------------- scopes

TWO_SENTENCES = "Drones arrived at the port. They were shipped at night."
TWO_PARAGRAPHS = "Drones arrived at the port.\n\nThey were shipped at night."


def test_sentence_scope(analyzer: Analyzer) -> None:
    assert not fires(analyzer, "in_sentence", TWO_SENTENCES)
    assert fired_units(analyzer, "in_sentence", "It rained. Drones were shipped. Dry.") == ["Drones were shipped."]


def test_paragraph_scope(analyzer: Analyzer) -> None:
    assert fired_units(analyzer, "in_paragraph", TWO_SENTENCES) == [TWO_SENTENCES]
    assert not fires(analyzer, "in_paragraph", TWO_PARAGRAPHS)


def test_document_scope(analyzer: Analyzer) -> None:
    assert fired_units(analyzer, "in_document", TWO_PARAGRAPHS) == [TWO_PARAGRAPHS]
    assert fires(analyzer, "in_document", "Rifles.\n\nMore text.\n\nShipped.")
    assert not fires(analyzer, "in_document", "Rifles only.\n\nNothing else.")


def test_title_is_its_own_sentence_and_part_of_the_document(analyzer: Analyzer) -> None:
    assert not fires(analyzer, "in_sentence", "They were shipped at night.")
    analysis = run(analyzer, "in_sentence", "They were shipped at night.", title="Drones")
    assert analysis.fired() == []
    analysis = run(analyzer, "in_document", "They were shipped at night.", title="Drones")
    assert len(analysis.fired()) == 1


@pytest.mark.parametrize("text, expected", [
    ("Drones were then shipped.", True),             # 4 words from the first: one window
    ("Drones were then quietly shipped.", False),    # 5 words
    ("Shipped, then soon drones.", True),            # either order
    ("Drones arrived. Then shipped.", True),         # windows ignore sentence ends
    ("Drones arrived.\n\nThen shipped.", True),      # and paragraph ends
])
def test_window_scope(analyzer: Analyzer, text: str, expected: bool) -> None:
    assert fires(analyzer, "in_window", text) is expected


def test_window_units_are_word_spans_of_the_text(analyzer: Analyzer) -> None:
    analysis = run(analyzer, "in_window", "Yesterday drones were then shipped to the coast.")
    units = [analysis.document.text[m.unit.start:m.unit.end].rstrip() for m in analysis.fired()]
    assert units == ["drones were then shipped"]  # 4 words from the first hit
    assert all(m.unit.kind == "window" for m in analysis.fired())


def test_pattern_scope_document(analyzer: Analyzer) -> None:
    text = "Drones were seized at sea. Later the Security Council met."
    assert fired_units(analyzer, "council_anywhere", text) == ["Drones were seized at sea."]
    assert not fires(analyzer, "council_here", text)
    assert fires(analyzer, "council_here", "The Security Council discussed drones.")
    assert not fires(analyzer, "council_anywhere", "Drones were seized at sea. Nobody met.")
    # The document-wide pattern counts in every unit, but does not make a unit of its own.
    assert fired_units(analyzer, "council_anywhere", "The Security Council met. Drones flew. Rifles too.") == [
        "Drones flew.", "Rifles too."]


def test_exception_cue_scope_document(analyzer: Analyzer) -> None:
    # A cue with scope: document counts wherever it is in the article ...
    m = only(run(analyzer, "fiction", "This is a novel. Rifles appear in chapter two."))
    assert m.suppressed_by == ["novel"]
    # ... a unit-scoped cue only in the unit.
    assert fired_units(analyzer, "fiction", "This is a film. Rifles appear in scene two.") == [
        "Rifles appear in scene two."]
    assert only(run(analyzer, "fiction", "Rifles appear in the film.")).suppressed_by == ["film"]


# ---------------------------------------------------------------- many articles, one analyzer

def test_two_thousand_articles_in_a_row(analyzer: Analyzer) -> None:
    """durable-rules keeps at most 1,024 live sessions: each article's state must be deleted."""
    texts = ["Iran shipped drones to Russia.", "Iran has not shipped drones.", "Iran denied it sold rifles.",
             "Nothing to see here."]
    expected = [("high", []), (None, ["negated"]), ("low", []), (None, [])]
    for i in range(2000):
        k = i % 4
        analysis = analyzer.analyse(f"{texts[k]} Item {i}.", rules=["claim"])
        best = analysis.best("claim")
        level = best.level if best else None
        suppressed = [e for m in analysis.matches for e in m.suppressed_by]
        assert (level, suppressed) == expected[k], f"article {i}"
    # A different rule on the same analyzer still works afterwards.
    assert fires(analyzer, "in_document", TWO_PARAGRAPHS)
