"""Corpus BLEU and chrF through sacrebleu, on detokenized text, with the signatures that make scores comparable."""

from __future__ import annotations

import sacrebleu


def translation_scores(hypotheses: list[str], references: list[str]) -> dict:
    """sacrebleu corpus BLEU (13a tokenization) and chrF of detokenized hypotheses against one reference each.

    Returns:
        dict with `bleu`, `chrf` (0-100), `bleu_signature`, `chrf_signature`
        (e.g. "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0"),
        `bleu_lowercase` and its signature (sacrebleu `--lowercase`, the
        score that lower-cased tutorials and papers report) and
        `bleu_details` (the n-gram precisions and brevity penalty).

    Raises:
        ValueError: different numbers of hypotheses and references, or none.
    """
    if len(hypotheses) != len(references):
        raise ValueError(f"translation_scores: {len(hypotheses)} hypotheses but {len(references)} references")
    if not references:
        raise ValueError("translation_scores: no sentences to score")
    bleu_metric = sacrebleu.metrics.BLEU()
    chrf_metric = sacrebleu.metrics.CHRF()
    lowercase_metric = sacrebleu.metrics.BLEU(lowercase=True)
    bleu = bleu_metric.corpus_score(hypotheses, [references])
    chrf = chrf_metric.corpus_score(hypotheses, [references])
    return {
        "bleu": float(bleu.score),
        "chrf": float(chrf.score),
        "bleu_signature": str(bleu_metric.get_signature()),
        "bleu_lowercase": float(lowercase_metric.corpus_score(hypotheses, [references]).score),
        "bleu_lowercase_signature": str(lowercase_metric.get_signature()),
        "chrf_signature": str(chrf_metric.get_signature()),
        "bleu_details": {
            "precisions": [float(p) for p in bleu.precisions],
            "brevity_penalty": float(bleu.bp),
            "hypothesis_length": int(bleu.sys_len),
            "reference_length": int(bleu.ref_len),
        },
    }
