import pytest

from nlp_apps.data.tag_schemes import convert_tags, first_tag_error, normalize_scheme, validate_tags

# Each case: the same entities written in IOB1, IOB2 and BIOES.
CASES = [
    # First sentence of CoNLL-2003 eng.train ("EU rejects German call to boycott British lamb .").
    (
        ["I-ORG", "O", "I-MISC", "O", "O", "O", "I-MISC", "O", "O"],
        ["B-ORG", "O", "B-MISC", "O", "O", "O", "B-MISC", "O", "O"],
        ["S-ORG", "O", "S-MISC", "O", "O", "O", "S-MISC", "O", "O"],
    ),
    # Two adjacent PER entities: IOB1 needs B- to separate them.
    (
        ["I-PER", "I-PER", "B-PER", "I-PER", "O", "I-LOC", "I-LOC", "I-LOC"],
        ["B-PER", "I-PER", "B-PER", "I-PER", "O", "B-LOC", "I-LOC", "I-LOC"],
        ["B-PER", "E-PER", "B-PER", "E-PER", "O", "B-LOC", "I-LOC", "E-LOC"],
    ),
    # Adjacent one-token entities of the same type, and of different types.
    (
        ["I-LOC", "B-LOC", "B-LOC", "I-ORG", "I-PER"],
        ["B-LOC", "B-LOC", "B-LOC", "B-ORG", "B-PER"],
        ["S-LOC", "S-LOC", "S-LOC", "S-ORG", "S-PER"],
    ),
    # Types containing a dash, entity at the very start and end.
    (
        ["I-geo-loc", "I-geo-loc", "O", "I-person"],
        ["B-geo-loc", "I-geo-loc", "O", "B-person"],
        ["B-geo-loc", "E-geo-loc", "O", "S-person"],
    ),
    (["O", "O"], ["O", "O"], ["O", "O"]),
    ([], [], []),
]


@pytest.mark.parametrize("iob1, iob2, bioes", CASES)
def test_all_directions(iob1, iob2, bioes):
    written = {"iob1": iob1, "iob2": iob2, "bioes": bioes}
    for source, tags in written.items():
        for target, expected in written.items():
            assert convert_tags(tags, source, target) == expected, (source, target)


@pytest.mark.parametrize("iob1, iob2, bioes", CASES)
def test_round_trip_iob1_iob2_bioes_iob2_iob1(iob1, iob2, bioes):
    tags = convert_tags(iob1, "iob1", "iob2")
    tags = convert_tags(tags, "iob2", "bioes")
    tags = convert_tags(tags, "bioes", "iob2")
    assert convert_tags(tags, "iob2", "iob1") == iob1


def test_iob1_b_after_outside_is_accepted_and_starts_an_entity():
    # CoNLL-2003 eng.train has "at the Atlanta/B-MISC Games/I-MISC".
    tags = ["O", "B-MISC", "I-MISC", "O"]
    validate_tags(tags, "iob1")
    assert convert_tags(tags, "iob1", "iob2") == ["O", "B-MISC", "I-MISC", "O"]
    # Written back canonically, the B- becomes I-.
    assert convert_tags(tags, "iob1", "iob1") == tags
    assert convert_tags(convert_tags(tags, "iob1", "iob2"), "iob2", "iob1") == ["O", "I-MISC", "I-MISC", "O"]


def test_aliases():
    assert normalize_scheme("BIO") == "iob2"
    assert normalize_scheme("iobes") == "bioes"
    assert convert_tags(["B-PER", "I-PER"], "bio", "iobes") == ["B-PER", "E-PER"]


@pytest.mark.parametrize(
    "tags, scheme, position, fragment",
    [
        (["O", "B-PER", "I-LOC"], "iob2", 2, "'I-LOC'"),
        (["O", "O", "I-PER"], "iob2", 2, "'I-PER'"),
        (["I-PER"], "iob2", 0, "sequence start"),
        (["E-PER", "O"], "iob1", 0, "'E-PER'"),
        (["S-PER"], "iob2", 0, "'S-PER'"),
        (["B-PER", "O"], "bioes", 1, "'O'"),
        (["B-PER", "I-PER"], "bioes", 1, "never closed"),
        (["O", "E-LOC"], "bioes", 1, "'E-LOC'"),
        (["B-PER", "E-LOC"], "bioes", 1, "'E-LOC'"),
        (["S-PER", "I-PER", "E-PER"], "bioes", 1, "'I-PER'"),
    ],
)
def test_invalid_sequences_name_position_and_tag(tags, scheme, position, fragment):
    assert first_tag_error(tags, scheme)[0] == position
    with pytest.raises(ValueError, match=f"position {position} ") as error:
        validate_tags(tags, scheme)
    assert fragment in str(error.value)
    with pytest.raises(ValueError, match=f"position {position} "):
        convert_tags(tags, scheme, "iob2" if scheme != "iob2" else "bioes")


@pytest.mark.parametrize("bad_tag", ["PER", "B-", "-PER", "X-PER", "BB-PER", "O-PER", "o"])
@pytest.mark.parametrize("scheme", ["iob1", "iob2", "bioes"])
def test_unknown_tag_forms_are_named(bad_tag, scheme):
    with pytest.raises(ValueError) as error:
        validate_tags(["O", bad_tag], scheme)
    assert repr(bad_tag) in str(error.value)
    assert "position 1" in str(error.value)


def test_unknown_scheme():
    with pytest.raises(ValueError, match="unknown tag scheme 'bilou'"):
        convert_tags(["O"], "bilou", "iob2")
    with pytest.raises(ValueError, match="target: unknown tag scheme"):
        convert_tags(["O"], "iob2", "iob3")
