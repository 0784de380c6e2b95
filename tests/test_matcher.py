"""Matcher edge cases through the real pipeline, plus normalise / segment unit tests.

The ruleset is written to a tmp folder: one list (``places``) and a few rules
that report its hits. Every hit is checked against the ORIGINAL text: the
span must slice exactly the quoted words, whatever normalisation did.
"""

from __future__ import annotations

import unicodedata

import pytest

from monitor.document import make_document
from monitor.match import Hit
from monitor.normalise import normalise, normalise_term
from monitor.pipeline import Analyzer
from monitor.rules import load_rules
from monitor.segment import Segment, paragraphs, sentences

LIST = """\
kind: list
id: places
title: Places and things
entries:
  - id: TUR
    aliases: ["Türkiye", "Turkey"]
  - id: IRN
    aliases: ["Iran", "Iranian-made"]
    weak_aliases: ["Tehran"]
    context_aliases: ["Persia"]
  - id: CIV
    aliases: ["Cote d'Ivoire", "Côte d'Ivoire"]
  - id: CHN
    aliases: ["People's Republic of China"]
  - id: PRK
    aliases: ["North Korea"]
    acronyms: ["DPRK"]
  - id: USA
    aliases: ["U.S.", "United States"]
  - id: SDN
    aliases: ["Sudan"]
    context_aliases: ["Khartoum"]
  - id: SSD
    aliases: ["South Sudan"]
  - id: KIM
    aliases: ["Kim"]
  - id: SHAHED
    aliases: ["Shahed-136"]
  - id: MOHAJER
    aliases: ["Mohajer-6"]
"""

RULES = r"""kind: rule
id: strong
title: Any strong mention
level: high
scope: document
patterns:
  place: {list: places}
match: place
---
kind: rule
id: weak
title: Any mention, weak aliases included
level: high
scope: document
patterns:
  place: {list: places, weak: true}
match: place
---
kind: rule
id: quoted
title: A quoted term
level: low
scope: document
patterns:
  phrase: {terms: ['so-called "civilian" cargo', "ship-to-ship"]}
match: phrase
---
kind: rule
id: numbered
title: A numbered resolution
level: info
scope: document
patterns:
  res: {regex: '\bresolution\s+(?P<num>[0-9]{4})(?:\s*\((?P<year>[0-9]{4})\))?'}
match: res
"""


@pytest.fixture(scope="module")
def analyzer(tmp_path_factory: pytest.TempPathFactory) -> Analyzer:
    folder = tmp_path_factory.mktemp("matcher_rules")
    (folder / "places.yaml").write_text(LIST, encoding="utf-8")
    (folder / "rules.yaml").write_text(RULES, encoding="utf-8")
    return Analyzer(load_rules([folder]))


def hits(analyzer: Analyzer, text: str, rule: str = "strong", pattern: str = "place", title: str = "") -> list[Hit]:
    """Every hit the rule reports, checked to slice the analysed text exactly."""
    analysis = analyzer.analyse(text, title, rules=[rule])
    assert all(m.fired for m in analysis.matches)
    found = [h for m in analysis.matches for h in m.hits[pattern]]
    doc_text = analysis.document.text
    for h in found:
        assert doc_text[h.start:h.end] == h.text, f"span {h.start}:{h.end} does not slice {h.text!r}"
    if not title:
        assert doc_text == text
    return found


def entries(found: list[Hit]) -> list[tuple[str, str]]:
    return [(h.entry, h.text) for h in found]


# ---------------------------------------------------------------- Unicode case and diacritics

@pytest.mark.parametrize("text, quoted", [
    ("TÜRKIYE signed the deal.", "TÜRKIYE"),
    ("türkiye signed the deal.", "türkiye"),
    ("Turkiye signed the deal.", "Turkiye"),    # diacritics dropped for matching
    ("TURKEY signed the deal.", "TURKEY"),
])
def test_unicode_case_insensitive_alias(analyzer: Analyzer, text: str, quoted: str) -> None:
    assert entries(hits(analyzer, text)) == [("TUR", quoted)]


def test_dotted_capital_i(analyzer: Analyzer) -> None:
    # "İ".casefold() is "i" + COMBINING DOT ABOVE: the dot must not break the word.
    text = "Officials in İran said so; İRAN agreed."
    found = hits(analyzer, text)
    assert entries(found) == [("IRN", "İran"), ("IRN", "İRAN")]
    assert (found[0].start, found[0].end) == (13, 17)


def test_decomposed_diacritics_are_quoted_whole(analyzer: Analyzer) -> None:
    text = "Exports from Tu\u0308rkiye rose."  # u + COMBINING DIAERESIS
    assert entries(hits(analyzer, text)) == [("TUR", "Tu\u0308rkiye")]


# ---------------------------------------------------------------- word boundaries

def test_alias_does_not_match_inside_a_longer_word(analyzer: Analyzer) -> None:
    assert hits(analyzer, "Iranian officials met Iranians.") == []
    assert hits(analyzer, "Kimé and Kimura met Akim.") == []
    assert hits(analyzer, "Kime\u0301 arrived.") == []  # é written decomposed


def test_longer_form_matches_when_listed(analyzer: Analyzer) -> None:
    assert entries(hits(analyzer, "Iranian-made drones and Iranian drones.")) == [("IRN", "Iranian-made")]
    assert entries(hits(analyzer, "Kim said: Kim's envoy, (Kim).")) == [("KIM", "Kim")] * 3


# ---------------------------------------------------------------- apostrophes, quotes, dashes

@pytest.mark.parametrize("written", ["People’s Republic of China", "People's Republic of China",
                                     "PEOPLE‘S REPUBLIC OF CHINA", "Peopleʼs Republic of China", "People´s Republic of China"])
def test_curly_and_straight_apostrophes(analyzer: Analyzer, written: str) -> None:
    text = f"Exports to the {written} rose."
    assert entries(hits(analyzer, text)) == [("CHN", written)]


@pytest.mark.parametrize("written", ["Côte d’Ivoire", "COTE D'IVOIRE"])
def test_two_spellings_of_one_alias_give_one_hit(analyzer: Analyzer, written: str) -> None:
    # CIV lists both "Cote d'Ivoire" and "Côte d'Ivoire" (the natural way to write the list);
    # they normalise to the same key, and one mention must still be one hit, not one per spelling.
    text = f"Cocoa from {written} was seized."
    assert entries(hits(analyzer, text)) == [("CIV", written)]


def test_curly_double_quotes_in_a_terms_pattern(analyzer: Analyzer) -> None:
    text = "The ship carried a so-called “civilian” cargo in a ship‑to‑ship transfer."
    found = hits(analyzer, text, rule="quoted", pattern="phrase")
    assert [h.text for h in found] == ["so-called “civilian” cargo", "ship‑to‑ship"]


def test_quotes_around_a_name_stay_outside_the_span(analyzer: Analyzer) -> None:
    assert entries(hits(analyzer, "He said “North Korea” twice.")) == [("PRK", "North Korea")]


@pytest.mark.parametrize("written, entry", [
    ("Shahed-136", "SHAHED"),
    ("Shahed\u2011136", "SHAHED"),   # non-breaking hyphen
    ("Shahed\u2013136", "SHAHED"),   # en dash
    ("Shahed\u2014136", "SHAHED"),   # em dash
    ("SHAHED-136", "SHAHED"),
    ("Mohajer-6", "MOHAJER"),
    ("Sha\u00adhed-136", "SHAHED"),  # soft hyphen inside the word
])
def test_hyphenated_names_with_digits(analyzer: Analyzer, written: str, entry: str) -> None:
    text = f"Russia fielded {written} drones."
    assert entries(hits(analyzer, text)) == [(entry, written)]


def test_digits_extend_the_word(analyzer: Analyzer) -> None:
    assert hits(analyzer, "Shahed-1360 and Mohajer-61 are not listed.") == []
    assert hits(analyzer, "The Shahed 136 is spelled without a hyphen.") == []


# ---------------------------------------------------------------- whitespace inside names

@pytest.mark.parametrize("written", ["North\nKorea", "North  Korea", "North\t \nKorea", "North\r\nKorea", "North\u00a0Korea"])
def test_line_breaks_and_runs_of_spaces_inside_names(analyzer: Analyzer, written: str) -> None:
    text = f"Reports say {written} shipped shells."
    found = hits(analyzer, text)
    assert entries(found) == [("PRK", written)]
    assert text[found[0].start:found[0].end] == written
    assert found[0].start == len("Reports say ")


def test_spans_slice_the_original_text_after_a_title(analyzer: Analyzer) -> None:
    title = "Exports   from  Türkiye"
    body = "Shahed\u2011136 drones left\nNorth\nKorea."
    analysis = analyzer.analyse(body, title, rules=["strong"])
    doc = analysis.document
    found = [h for m in analysis.matches for h in m.hits["place"]]
    assert [doc.text[h.start:h.end] for h in found] == ["Türkiye", "Shahed\u2011136", "North\nKorea"]
    # Map back to the stored fields: the title is whitespace-collapsed, the body untouched.
    where = [doc.field_span(h.start, h.end) for h in found]
    assert where[0][0] == "title" and "Exports from Türkiye"[where[0][1]:where[0][2]] == "Türkiye"
    assert [body[a:b] for field, a, b in where[1:]] == ["Shahed\u2011136", "North\nKorea"]
    assert all(field == "text" for field, _, _ in where[1:])


def test_regex_spans_and_groups_after_non_ascii_text(analyzer: Analyzer) -> None:
    text = "Türkiye’s envoy — “angrily” — cited RESOLUTION\n2397  (2017), then resolution 1718."
    found = hits(analyzer, text, rule="numbered", pattern="res")
    assert [h.text for h in found] == ["RESOLUTION\n2397  (2017)", "resolution 1718"]
    assert [dict(h.groups) for h in found] == [{"num": "2397", "year": "2017"}, {"num": "1718"}]


# ---------------------------------------------------------------- terms ending in punctuation

def test_terms_ending_in_punctuation(analyzer: Analyzer) -> None:
    assert entries(hits(analyzer, "Sanctions were imposed by the U.S.")) == [("USA", "U.S.")]
    assert entries(hits(analyzer, "A U.S.-led coalition, then the U.S. and the United States.")) == [
        ("USA", "U.S."), ("USA", "U.S."), ("USA", "United States")]
    assert entries(hits(analyzer, "the u.s. navy")) == [("USA", "u.s.")]


def test_term_ending_in_punctuation_still_needs_a_word_start(analyzer: Analyzer) -> None:
    assert hits(analyzer, "The BU.S. code and the SU.S. tag.") == []


# ---------------------------------------------------------------- acronyms

def test_acronyms_are_case_sensitive(analyzer: Analyzer) -> None:
    assert entries(hits(analyzer, "The DPRK said so; DPRK's envoy agreed.")) == [("PRK", "DPRK"), ("PRK", "DPRK")]
    assert hits(analyzer, "dprk and Dprk are not the acronym.") == []
    assert hits(analyzer, "DPRKs is another word.") == []


# ---------------------------------------------------------------- weak and context aliases

def test_weak_aliases_only_count_with_weak_true(analyzer: Analyzer) -> None:
    text = "Tehran denied the report."
    assert hits(analyzer, text, rule="strong") == []
    found = hits(analyzer, text, rule="weak")
    assert entries(found) == [("IRN", "Tehran")]
    assert found[0].weak is True
    both = hits(analyzer, "Iran and Tehran.", rule="weak")
    assert [(h.text, h.weak) for h in both] == [("Iran", False), ("Tehran", True)]


def test_context_alias_needs_a_strong_alias_of_the_same_entry(analyzer: Analyzer) -> None:
    assert hits(analyzer, "Persia exported carpets.") == []
    # Another entry's strong alias does not enable it.
    assert entries(hits(analyzer, "Persia and Türkiye traded.")) == [("TUR", "Türkiye")]
    # A weak alias of the same entry does not enable it either.
    assert hits(analyzer, "Persia and Tehran.") == []
    assert entries(hits(analyzer, "Persia and Tehran.", rule="weak")) == [("IRN", "Tehran")]
    # Anywhere in the same document (another paragraph, before or after) does.
    text = "Persia exported carpets.\n\nLater, Iran denied it."
    assert entries(hits(analyzer, text)) == [("IRN", "Persia"), ("IRN", "Iran")]


def test_context_alias_is_not_enabled_by_a_shorter_alias_hidden_in_a_longer_one(analyzer: Analyzer) -> None:
    # "Sudan" inside "South Sudan" is not a mention of Sudan, so Sudan's context alias
    # "Khartoum" has no strong mention of Sudan to lean on.
    assert entries(hits(analyzer, "Sudan accused Khartoum.")) == [("SDN", "Sudan"), ("SDN", "Khartoum")]
    assert entries(hits(analyzer, "South Sudan accused Khartoum.")) == [("SSD", "South Sudan")]


# ---------------------------------------------------------------- longest match

def test_longest_match_wins(analyzer: Analyzer) -> None:
    assert entries(hits(analyzer, "South Sudan closed its border.")) == [("SSD", "South Sudan")]
    assert entries(hits(analyzer, "Sudan and South Sudan met; SOUTH\nSUDAN left.")) == [
        ("SDN", "Sudan"), ("SSD", "South Sudan"), ("SSD", "SOUTH\nSUDAN")]


# ---------------------------------------------------------------- normalise

def _check_maps(text: str, casefold: bool = True) -> None:
    n = normalise(text, casefold)
    assert n.original == text
    assert len(n.starts) == len(n.ends) == len(n.text)
    assert n.starts == sorted(n.starts) and n.ends == sorted(n.ends)
    assert all(0 <= a < b <= len(text) for a, b in zip(n.starts, n.ends))


@pytest.mark.parametrize("text", [
    "Côte d’Ivoire", "İran", "TÜRKIYE", "ﬁne Straße", "Tu\u0308rkiye", "a \n\t b", "x\u200by", "Ωμέγα — “quote”",
    "北朝鮮 and 🚀 rockets", "plain ascii  text\n",
])
def test_normalise_offsets_are_well_formed(text: str) -> None:
    _check_maps(text, True)
    _check_maps(text, False)


def test_normalise_maps_non_ascii_back_to_the_original() -> None:
    text = "Cargo: Côte d’Ivoire, İran,  Straße\nand ﬁne Tu\u0308rkiye."
    n = normalise(text)
    assert n.text == "cargo: cote d'ivoire, iran, strasse and fine turkiye."
    for word, original in [("cote d'ivoire", "Côte d’Ivoire"), ("iran", "İran"), ("strasse", "Straße"),
                           ("fine", "ﬁne"), ("turkiye", "Tu\u0308rkiye"), ("iran, strasse", "İran,  Straße"),
                           ("strasse and", "Straße\nand")]:
        i = n.text.index(word)
        assert n.original_slice(i, i + len(word)) == original, word
    # One original character may become several normalised ones, and back.
    i = n.text.index("ss")
    assert n.span(i, i + 1) == n.span(i + 1, i + 2) == (text.index("ß"), text.index("ß") + 1)
    # to_norm is the inverse for character starts.
    assert n.to_norm(text.index("İ")) == n.text.index("iran")


def test_normalise_without_casefold_keeps_case_and_diacritics() -> None:
    n = normalise("Côte d’Ivoire — İran")
    assert n.text == "cote d'ivoire - iran"
    c = normalise("Côte d’Ivoire — İran", casefold=False)
    assert c.text == "Côte d'Ivoire - İran"
    assert normalise_term("  Côte  d’Ivoire ") == "cote d'ivoire"
    assert unicodedata.is_normalized("NFKC", c.text)


def test_normalise_ascii_and_unicode_paths_agree() -> None:
    ascii_text = "North  Korea\nshipped\t\tshells."
    same = ascii_text + "\u00e9"  # forces the Unicode path
    a, u = normalise(ascii_text), normalise(same)
    assert u.text == a.text + "e"
    assert u.starts[:len(a.starts)] == a.starts and u.ends[:len(a.ends)] == a.ends


# ---------------------------------------------------------------- segment

def _sentences(text: str) -> list[str]:
    return [text[s.start:s.end] for p in paragraphs(text) for s in sentences(text, p)]


def test_abbreviation_does_not_end_a_sentence() -> None:
    assert _sentences("Gen. Smith arrived. He left.") == ["Gen. Smith arrived.", "He left."]
    assert _sentences("Lt. Col. Jones met Dr. Wu. They talked.") == ["Lt. Col. Jones met Dr. Wu.", "They talked."]


def test_quoted_question_with_attribution_is_one_sentence() -> None:
    assert _sentences("“Why?” Arnold asked.") == ["“Why?” Arnold asked."]
    assert _sentences("\"Why?\" Arnold asked. Nobody answered.") == ["\"Why?\" Arnold asked.", "Nobody answered."]


def test_sentence_offsets_point_into_the_text() -> None:
    text = "  Côte d’Ivoire sold cocoa.  Drones  were shipped.\n\nNew paragraph here. Another one."
    paras = paragraphs(text)
    assert [text[p.start:p.end] for p in paras] == ["Côte d’Ivoire sold cocoa.  Drones  were shipped.",
                                                     "New paragraph here. Another one."]
    sents = [s for p in paras for s in sentences(text, p)]
    assert [text[s.start:s.end] for s in sents] == ["Côte d’Ivoire sold cocoa.", "Drones  were shipped.",
                                                    "New paragraph here.", "Another one."]
    assert all(isinstance(s, Segment) for s in sents)


def test_paragraphs_one_per_line_with_soft_wraps() -> None:
    text = "First line ends here.\nSecond paragraph starts and\ncontinues on a wrapped line.\nThird."
    assert [text[p.start:p.end] for p in paragraphs(text)] == [
        "First line ends here.", "Second paragraph starts and\ncontinues on a wrapped line.", "Third."]


def test_document_title_is_its_own_sentence_and_paragraph() -> None:
    doc = make_document("Drones were shipped. Iran denied it.", title="  Iran   ships drones ")
    assert doc.text == "Iran ships drones\n\nDrones were shipped. Iran denied it."
    assert [doc.text[s.start:s.end] for s in doc.sentences] == ["Iran ships drones", "Drones were shipped.", "Iran denied it."]
    assert [doc.text[p.start:p.end] for p in doc.paragraphs] == ["Iran ships drones", "Drones were shipped. Iran denied it."]


@pytest.mark.parametrize("text, expected", [
    ("North Korea exported coal to China.", True),
    ("Coal left the port of Nampo.", True),  # capitalised only because it starts the sentence
    ("The tanker met the Silver Merlin at sea.", False),  # a ship's name
    ("Cargo of the Nampo Coal Company was seized.", False),  # inside a company name
    ("He said: Coal was loaded at night.", True),
])
def test_common_noun_inside_a_name_is_not_a_hit(text: str, expected: bool) -> None:
    from monitor.match import in_proper_name
    doc = make_document(text, title="North Korea Coal Exports")
    word = next(w for w in ("Coal", "coal", "Silver") if w in text)
    start = doc.body_offset + text.index(word)
    assert in_proper_name(doc, start, start + len(word)) is not expected
    # the title is left alone: headlines are often written in title case
    assert in_proper_name(doc, doc.text.index("Coal"), doc.text.index("Coal") + 4) is False
