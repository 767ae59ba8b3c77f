"""Entity-level precision / recall / F1: a thin adapter over seqeval."""

from seqeval.metrics import classification_report
from seqeval.scheme import BILOU, IOB1, IOB2, IOBES

SEQEVAL_SCHEMES = {"iob1": IOB1, "iob2": IOB2, "bioes": IOBES, "bilou": BILOU}


def entity_scores(gold: list[list[str]], predicted: list[list[str]], scheme: str = "iob2") -> dict:
    """Scores predicted tag sequences against gold ones, entity by entity.

    Uses seqeval's strict mode: an entity counts only when its type and both
    boundaries match exactly, as in the CoNLL-2003 evaluation script.

    Returns:
        {"precision", "recall", "f1"} (micro, percent), "per_type":
        {type: {"precision", "recall", "f1", "support"}}, and "report" (text).
    """
    if scheme not in SEQEVAL_SCHEMES:
        raise ValueError(f"unknown tag scheme {scheme!r}; choose one of {', '.join(SEQEVAL_SCHEMES)}")
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold sequences but {len(predicted)} predicted ones")
    for index, (gold_tags, predicted_tags) in enumerate(zip(gold, predicted)):
        if len(gold_tags) != len(predicted_tags):
            raise ValueError(f"sequence {index}: {len(gold_tags)} gold tags but {len(predicted_tags)} predicted")
    kwargs = {"mode": "strict", "scheme": SEQEVAL_SCHEMES[scheme], "zero_division": 0}
    table = classification_report(gold, predicted, output_dict=True, **kwargs)
    text = classification_report(gold, predicted, digits=4, **kwargs)
    micro = table.get("micro avg", {"precision": 0.0, "recall": 0.0, "f1-score": 0.0})
    per_type = {
        name: {
            "precision": 100 * row["precision"],
            "recall": 100 * row["recall"],
            "f1": 100 * row["f1-score"],
            "support": int(row["support"]),
        }
        for name, row in table.items()
        if not name.endswith(" avg")
    }
    return {
        "precision": 100 * micro["precision"],
        "recall": 100 * micro["recall"],
        "f1": 100 * micro["f1-score"],
        "per_type": per_type,
        "report": text,
    }
