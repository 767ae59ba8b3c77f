"""`guard_texts`: what every string-in signature does first."""

import tensorflow as tf

from nlp_apps.export.input_guard import guard_texts


def test_long_texts_are_cut_to_the_limit_in_characters_and_flagged():
    texts = tf.constant(["short", "é" * 30, "😀" * 10 + "x"])
    cut, truncated, empty = guard_texts(texts, 10)
    assert [text.decode("utf-8") for text in cut.numpy()] == ["short", "é" * 10, "😀" * 10]
    assert truncated.numpy().tolist() == [False, True, True] and not empty.numpy().any()


def test_invalid_utf8_becomes_replacement_characters_and_empty_texts_are_flagged():
    texts = tf.constant([b"ok \xff\xfe end", b"", b"  \t\n", b"\x00"])
    cut, truncated, empty = guard_texts(texts, 100)
    assert cut.numpy()[0].decode("utf-8") == "ok \ufffd\ufffd end"
    # NUL is not whitespace to tf.strings.strip: the tokenizers treat it as whitespace (tested per task).
    assert empty.numpy().tolist() == [False, True, True, False] and not truncated.numpy().any()


def test_an_empty_batch_gives_empty_outputs():
    cut, truncated, empty = guard_texts(tf.constant([], tf.string), 5)
    assert cut.shape == (0,) and truncated.shape == (0,) and empty.shape == (0,)
