"""Tests for nlp_apps.layers.crf_constraints."""

import json

import pytest

from nlp_apps.layers import allowed_transitions

TAGS_IOB = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
TAGS_BIOES = ["O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "I-LOC", "E-LOC", "S-LOC"]


def lookup(tag_names, allowed):
    index = {name: i for i, name in enumerate(tag_names)}
    return lambda a, b: allowed[index[a]][index[b]]


def test_iob2():
    allowed, start, end = allowed_transitions(TAGS_IOB, "IOB2")
    ok = lookup(TAGS_IOB, allowed)
    assert ok("B-PER", "I-PER") and ok("I-PER", "I-PER")
    assert not ok("O", "I-PER") and not ok("B-LOC", "I-PER") and not ok("I-LOC", "I-PER")
    assert ok("O", "B-PER") and ok("I-PER", "B-PER") and ok("I-PER", "O")
    assert start == [True, True, False, True, False]
    assert end == [True] * 5
    json.dumps([allowed, start, end])  # plain bools


def test_iob1():
    allowed, start, end = allowed_transitions(TAGS_IOB, "iob1")
    ok = lookup(TAGS_IOB, allowed)
    assert ok("O", "I-PER") and ok("I-LOC", "I-PER")
    assert ok("I-PER", "B-PER") and ok("B-PER", "B-PER")
    assert not ok("O", "B-PER") and not ok("I-LOC", "B-PER")
    assert start == [True, False, True, False, True]
    assert end == [True] * 5


def test_bioes():
    allowed, start, end = allowed_transitions(TAGS_BIOES, "bioes")
    ok = lookup(TAGS_BIOES, allowed)
    for inside in ("B-PER", "I-PER"):
        followers = {b for b in TAGS_BIOES if ok(inside, b)}
        assert followers == {"I-PER", "E-PER"}
    for outside in ("O", "E-PER", "S-PER", "E-LOC"):
        followers = {b for b in TAGS_BIOES if ok(outside, b)}
        assert followers == {"O", "B-PER", "S-PER", "B-LOC", "S-LOC"}
    assert [t for t, s in zip(TAGS_BIOES, start) if s] == ["O", "B-PER", "S-PER", "B-LOC", "S-LOC"]
    assert [t for t, e in zip(TAGS_BIOES, end) if e] == ["O", "E-PER", "S-PER", "E-LOC", "S-LOC"]


def test_unknown_prefix_and_scheme():
    with pytest.raises(ValueError, match="'E-PER'"):
        allowed_transitions(["O", "E-PER"], "iob2")
    with pytest.raises(ValueError, match="'X'"):
        allowed_transitions(["O", "X-PER"], "bioes")
    with pytest.raises(ValueError, match="PER"):
        allowed_transitions(["O", "PER"], "iob2")
    with pytest.raises(ValueError, match="scheme"):
        allowed_transitions(TAGS_IOB, "bilou")
    with pytest.raises(ValueError, match="tag_names"):
        allowed_transitions([], "iob2")
