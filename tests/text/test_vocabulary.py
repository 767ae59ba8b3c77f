import random

import pytest

from nlp_apps.text import Vocabulary

SENTENCES = [
    ["the", "cat", "sat", "on", "the", "mat"],
    ["the", "dog", "sat"],
    ["a", "cat", "and", "a", "dog"],
]


def test_layout_and_lookups():
    vocabulary = Vocabulary(["the", "cat"], extra_special_tokens=["<s>", "</s>"])
    assert vocabulary.tokens == ["[PAD]", "[UNK]", "<s>", "</s>", "the", "cat"]
    assert len(vocabulary) == 6
    assert vocabulary.token_to_id("the") == 4
    assert vocabulary.token_to_id("zebra") == 1
    assert vocabulary.id_to_token(5) == "cat"
    assert vocabulary.encode(["the", "zebra", "cat", "<s>"]) == [4, 1, 5, 2]
    assert vocabulary.decode([4, 1, 5, 0, 0]) == ["the", "[UNK]", "cat"]
    assert vocabulary.decode([4, 0], skip_padding=False) == ["the", "[PAD]"]
    assert vocabulary.special_tokens == ["[PAD]", "[UNK]", "<s>", "</s>"]
    assert "cat" in vocabulary and "zebra" not in vocabulary


def test_build_is_frequency_sorted_with_alphabetical_ties():
    vocabulary = Vocabulary.build(SENTENCES)
    # the:3, a/cat/dog/sat:2 (alphabetical), and/mat/on:1 (alphabetical).
    assert vocabulary.tokens[2:] == ["the", "a", "cat", "dog", "sat", "and", "mat", "on"]


def test_build_is_deterministic_under_shuffling():
    expected = Vocabulary.build(SENTENCES, extra_special_tokens=["<s>"])
    rng = random.Random(0)
    for _ in range(5):
        shuffled = [rng.sample(sentence, len(sentence)) for sentence in SENTENCES]
        rng.shuffle(shuffled)
        assert Vocabulary.build(shuffled, extra_special_tokens=["<s>"]) == expected


def test_build_max_size_and_min_frequency():
    vocabulary = Vocabulary.build(SENTENCES, max_size=5, extra_special_tokens=["<s>"])
    assert vocabulary.tokens == ["[PAD]", "[UNK]", "<s>", "the", "a"]
    assert Vocabulary.build(SENTENCES, min_frequency=2).tokens[2:] == ["the", "a", "cat", "dog", "sat"]
    with pytest.raises(ValueError, match="max_size"):
        Vocabulary.build(SENTENCES, max_size=1)


def test_build_ignores_special_tokens_in_data_and_rejects_strings():
    vocabulary = Vocabulary.build([["[UNK]", "x", "[PAD]"]])
    assert vocabulary.tokens == ["[PAD]", "[UNK]", "x"]
    with pytest.raises(ValueError, match=r"token_sequences\[0\] is a string"):
        Vocabulary.build(["not tokenized"])
    with pytest.raises(ValueError, match=r"token_sequences\[1\]\[0\]"):
        Vocabulary.build([["ok"], [""]])


def test_save_load_round_trip(tmp_path):
    vocabulary = Vocabulary(
        ["the", "naïve", "東京", "😀", "U.N.", "a\u2028b"],
        pad_token="<pad>",
        unk_token="<unk>",
        extra_special_tokens=["<s>", "</s>"],
    )
    path = tmp_path / "vocab.txt"
    vocabulary.save(path)
    assert path.read_bytes().decode("utf-8").split("\n")[:3] == ["<pad>", "<unk>", "<s>"]
    loaded = Vocabulary.load(path, extra_special_tokens=["<s>", "</s>"])
    assert loaded == vocabulary
    assert loaded.pad_token == "<pad>" and loaded.unk_token == "<unk>"
    # Without the extras, the ids are the same; the extras just count as tokens.
    assert Vocabulary.load(path).tokens == vocabulary.tokens


def test_load_accepts_windows_line_endings(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_bytes(b"[PAD]\r\n[UNK]\r\nthe\r\n")
    assert Vocabulary.load(path).tokens == ["[PAD]", "[UNK]", "the"]


def test_load_duplicate_token_names_file_and_line(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("[PAD]\n[UNK]\nthe\ncat\nthe\n", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"^{path}:5: duplicate token 'the' \(first seen on line 3\)"):
        Vocabulary.load(path)


def test_load_empty_line_names_file_and_line(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("[PAD]\n[UNK]\nthe\n\ncat\n", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"^{path}:4: empty line"):
        Vocabulary.load(path)


def test_load_other_errors(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_bytes(b"[PAD]\n[UNK]\n\xff\n")
    with pytest.raises(ValueError, match=rf"^{path}:3: invalid UTF-8"):
        Vocabulary.load(path)
    path.write_text("[PAD]\n", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"^{path}:2:"):
        Vocabulary.load(path)
    path.write_text("[PAD]\n[UNK]\n<s>\nthe\n", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"^{path}:4: expected extra special token '</s>'"):
        Vocabulary.load(path, extra_special_tokens=["<s>", "</s>"])


def test_constructor_validation():
    with pytest.raises(ValueError, match=r"tokens\[1\]: duplicate token 'a'"):
        Vocabulary(["a", "a"])
    with pytest.raises(ValueError, match="duplicate token"):
        Vocabulary(["[UNK]"])
    with pytest.raises(ValueError, match="line break"):
        Vocabulary(["a\nb"])
    with pytest.raises(ValueError, match="empty"):
        Vocabulary(["  "])
    with pytest.raises(ValueError, match="single string"):
        Vocabulary("abc")
    with pytest.raises(ValueError, match="outside"):
        Vocabulary(["a"]).id_to_token(3)
