import pytest
import tensorflow as tf

import keras
from nlp_apps.text import WordTokenizer

CASES = [
    ("U.N. officials said, 'no'.", ["U.N.", "officials", "said", ",", "'", "no", "'", "."]),
    (
        "Germany's 3.5% rise on 1996-08-22 cost $1,000.",
        ["Germany", "'s", "3.5", "%", "rise", "on", "1996-08-22", "cost", "$", "1,000", "."],
    ),
    (
        'EU rejects German call to boycott British lamb ("well-known" 3-year-old)...',
        ["EU", "rejects", "German", "call", "to", "boycott", "British", "lamb", "(", '"',
         "well-known", '"', "3-year-old", ")", "..."],
    ),
    ("e.g. the U.S. -- I'm here", ["e.g.", "the", "U.S.", "--", "I", "'m", "here"]),
    ("  leading\tand\ntrailing\u00a0space\u3000 ", ["leading", "and", "trailing", "space"]),
    ("naïve café Ünïcödé", ["naïve", "café", "Ünïcödé"]),
    ("東京は 日本の首都です。", ["東京は", "日本の首都です", "。"]),
    ("مرحبا بالعالم!", ["مرحبا", "بالعالم", "!"]),
    ("I ❤️ NY 😀😀 👍🏽 👩‍💻!", ["I", "❤️", "NY", "😀", "😀", "👍🏽", "👩‍💻", "!"]),
]


def assert_offsets_slice_back(strings, output):
    for string, tokens, starts, ends in zip(
        strings, output["tokens"].to_list(), output["starts"].to_list(), output["ends"].to_list()
    ):
        data = string if isinstance(string, bytes) else string.encode("utf-8")
        assert [data[start:end] for start, end in zip(starts, ends)] == tokens


def test_sample_sentences_tokens_and_offsets():
    strings = [string for string, _ in CASES]
    output = WordTokenizer()(tf.constant(strings))
    assert set(output) == {"tokens", "starts", "ends"}
    assert output["starts"].dtype == tf.int64 and output["ends"].dtype == tf.int64
    decoded = [[token.decode("utf-8") for token in row] for row in output["tokens"].to_list()]
    assert decoded == [tokens for _, tokens in CASES]
    assert_offsets_slice_back(strings, output)


def test_empty_and_whitespace_strings_give_zero_tokens():
    output = WordTokenizer()(tf.constant(["", " ", "\t\n\r ", "\u3000\u00a0", "a"]))
    assert output["tokens"].row_lengths().numpy().tolist() == [0, 0, 0, 0, 1]
    empty = WordTokenizer()(tf.constant([], tf.string))
    assert empty["tokens"].shape[0] == 0


def test_nul_is_whitespace_and_the_text_after_it_is_kept():
    # The underlying split op stopped at a NUL byte, silently dropping the rest.
    texts = ["EU rejects\x00 German call\x00to boycott", "\x00\x00lamb"]
    output = WordTokenizer()(tf.constant(texts))
    assert output["tokens"].to_list() == [[b"EU", b"rejects", b"German", b"call", b"to", b"boycott"], [b"lamb"]]
    assert_offsets_slice_back(texts, output)


def test_long_line_and_invalid_utf8():
    line = " ".join(["word,"] * 2500)
    output = WordTokenizer()(tf.constant([line]))
    assert int(output["tokens"].row_lengths()[0]) == 5000
    assert_offsets_slice_back([line], output)
    broken = [b"bad\xff\xfe bytes \xe6\x9d"]
    output = WordTokenizer()(tf.constant(broken))
    assert_offsets_slice_back(broken, output)


def test_lowercase_keeps_offsets_on_original_string():
    strings = ["Über THE İstanbul"]
    output = WordTokenizer(lowercase=True)(tf.constant(strings))
    assert [token.decode("utf-8") for token in output["tokens"][0].numpy()] == ["über", "the", "i̇stanbul"]
    original = strings[0].encode("utf-8")
    starts, ends = output["starts"][0].numpy(), output["ends"][0].numpy()
    assert [original[s:e] for s, e in zip(starts, ends)] == [b"\xc3\x9cber", b"THE", "İstanbul".encode()]


def test_custom_split_pattern():
    output = WordTokenizer(split_pattern=r"[a-z]+")(tf.constant(["abc,de  f!"]))
    assert output["tokens"].to_list() == [[b"abc", b",", b"de", b"f", b"!"]]
    with pytest.raises(ValueError, match="split_pattern"):
        WordTokenizer(split_pattern="")


def test_tf_function_and_functional_model():
    tokenizer = WordTokenizer()
    run = tf.function(tokenizer, input_signature=[tf.TensorSpec([None], tf.string)])
    assert run(tf.constant(["a, b"]))["tokens"].to_list() == [[b"a", b",", b"b"]]
    inputs = keras.Input(shape=(), dtype="string")
    model = keras.Model(inputs, tokenizer(inputs)["tokens"])
    assert model(tf.constant(["x y", "z"])).to_list() == [[b"x", b"y"], [b"z"]]


def test_config_round_trip(assert_config_round_trip):
    clone = assert_config_round_trip(WordTokenizer(lowercase=True, split_pattern=r"\w+", name="words"))
    assert clone.lowercase is True and clone.split_pattern == r"\w+"


def test_saved_model_round_trip(reload_saved_model):
    tokenizer = WordTokenizer(lowercase=True)
    run = reload_saved_model(tokenizer, [tf.TensorSpec([None], tf.string)])
    strings = tf.constant([string for string, _ in CASES] + [""])
    reloaded, original = run(strings), tokenizer(strings)
    for key in ("tokens", "starts", "ends"):
        assert reloaded[key].to_list() == original[key].to_list()
