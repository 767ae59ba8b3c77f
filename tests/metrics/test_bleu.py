"""sacrebleu adapter: scores, signature and errors."""

import pytest

from nlp_apps.metrics.bleu import translation_scores


def test_identical_corpus_scores_100_and_reports_signatures():
    references = ["Ein Mann fährt Fahrrad.", "Zwei Hunde spielen im Schnee."]
    scores = translation_scores(references, references)
    assert scores["bleu"] == pytest.approx(100.0)
    assert scores["chrf"] == pytest.approx(100.0)
    assert "tok:13a" in scores["bleu_signature"] and "nrefs:1" in scores["bleu_signature"]
    assert scores["bleu_details"]["brevity_penalty"] == pytest.approx(1.0)


def test_worse_hypotheses_score_lower():
    references = ["Ein Mann fährt ein rotes Fahrrad auf der Straße."]
    good = translation_scores(["Ein Mann fährt ein rotes Fahrrad auf einer Straße."], references)
    bad = translation_scores(["Hunde."], references)
    assert 0 <= bad["bleu"] < good["bleu"] < 100
    assert bad["bleu_details"]["brevity_penalty"] < 1.0


def test_mismatched_or_empty_inputs_are_errors():
    with pytest.raises(ValueError, match="2 hypotheses but 1 references"):
        translation_scores(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="no sentences"):
        translation_scores([], [])


def test_lowercase_bleu_ignores_case_only_differences():
    references = ["Ein Mann fährt ein rotes Fahrrad auf der Straße."]
    scores = translation_scores(["ein mann fährt ein rotes fahrrad auf der straße."], references)
    assert scores["bleu_lowercase"] == pytest.approx(100.0)
    assert scores["bleu"] < 50.0
    assert "case:lc" in scores["bleu_lowercase_signature"]
