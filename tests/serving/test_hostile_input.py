"""The exported signatures on hostile input: property-based fuzzing (hypothesis) plus the probes of issue 19.

Random Unicode (control, zero-width, right-to-left and astral characters,
NUL), empty and whitespace-only strings, empty and mixed batches and texts
beyond the length limit: no call may fail, and every output keeps its
invariants (one result per input, offsets inside the text, entity texts
equal to the text between their offsets, probabilities that sum to 1).
"""

import time

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the ops the SavedModels use)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nlp_apps.export.versions import latest_version_dir

# Zero-width and bidirectional controls, RTL letters, NUL and other C0/C1 controls, an emoji and a combining mark.
HOSTILE = "\u200b\u200c\u200d\u2060\ufeff\u202e\u202d\u061c\u05d0\u05e9\u0627\u0644\x00\x01\x1b\x7f\x85\u2028\U0001f600\u0301"
TEXTS = st.text(
    alphabet=st.one_of(st.characters(codec="utf-8"), st.sampled_from(HOSTILE), st.sampled_from(" .,-'\"\n\tA")),
    max_size=300,
)
BATCHES = st.lists(TEXTS, min_size=0, max_size=4)
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def signatures(served_models):
    root, manifests = served_models
    loaded = {name: tf.saved_model.load(str(latest_version_dir(root / name))) for name in manifests}
    return {name: model.signatures["serving_default"] for name, model in loaded.items()}, manifests


def _strings(values):
    return [value.decode("utf-8") for value in values]


def check_ner(texts, outputs, limit):
    assert outputs["num_tokens"].shape[0] == len(texts)
    for row, text in enumerate(texts):
        length = min(len(text), limit)
        count = int(outputs["num_tokens"][row])
        starts, ends = outputs["token_starts"][row].numpy()[:count], outputs["token_ends"][row].numpy()[:count]
        assert ((0 <= starts) & (starts < ends) & (ends <= length)).all(), (text, starts, ends)
        for token, start, end in zip(_strings(outputs["tokens"][row].numpy()[:count]), starts, ends):
            assert token == text[start:end]
        for kind, start, end, entity in zip(
            _strings(outputs["entity_types"][row].numpy()), outputs["entity_starts"][row].numpy(),
            outputs["entity_ends"][row].numpy(), _strings(outputs["entity_texts"][row].numpy()),
        ):
            if kind:
                assert 0 <= start < end <= length and entity == text[start:end]
        assert bool(outputs["truncated"][row]) == (len(text) > limit)


def check_sentiment(texts, outputs, labels):
    probabilities = outputs["probabilities"].numpy()
    assert probabilities.shape == (len(texts), len(labels)) and np.isfinite(probabilities).all()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    for row, label in enumerate(_strings(outputs["label"].numpy())):
        assert (label == "") == bool(outputs["empty"][row]) and (label == "" or label in labels)


@FUZZ
@given(texts=BATCHES)
def test_fuzzed_batches_never_fail_the_ner_signature(signatures, texts):
    functions, manifests = signatures
    outputs = functions["ner_sample"](texts=tf.constant(texts, tf.string))
    check_ner(texts, outputs, manifests["ner_sample"]["task_info"]["max_input_chars"])


@FUZZ
@given(texts=BATCHES)
def test_fuzzed_batches_never_fail_the_sentiment_signature(signatures, texts):
    functions, manifests = signatures
    outputs = functions["sentiment_sample"](texts=tf.constant(texts, tf.string))
    check_sentiment(texts, outputs, manifests["sentiment_sample"]["task_info"]["label_names"])


def test_a_text_over_the_limit_is_cut_flagged_and_fast(signatures):
    functions, manifests = signatures
    limit = manifests["ner_sample"]["task_info"]["max_input_chars"]
    text = "EU rejects German call to boycott British lamb . " * (50_000 // 49)
    started = time.perf_counter()
    outputs = functions["ner_sample"](texts=tf.constant([text, "Peter met Mary ."]))
    seconds = time.perf_counter() - started
    assert outputs["truncated"].numpy().tolist() == [True, False]
    check_ner([text, "Peter met Mary ."], outputs, limit)
    # Before the limit and the linear offsets, one 50,000-character text took 55-125 s.
    assert seconds < 30, seconds


def test_empty_and_wordless_texts_get_the_neutral_sentiment_result(signatures):
    functions, manifests = signatures
    labels = manifests["sentiment_sample"]["task_info"]["label_names"]
    outputs = functions["sentiment_sample"](texts=tf.constant(["", "   ", "Great film, I loved it."]))
    assert outputs["empty"].numpy().tolist() == [True, True, False]
    assert _strings(outputs["label"].numpy())[:2] == ["", ""] and outputs["label_id"].numpy()[:2].tolist() == [-1, -1]
    np.testing.assert_allclose(outputs["probabilities"].numpy()[:2], 1.0 / len(labels))


def test_a_rank_2_or_non_string_input_is_refused_with_a_clear_error(signatures):
    functions, _ = signatures
    with pytest.raises((ValueError, TypeError, tf.errors.InvalidArgumentError), match="(?i)shape|rank|incompatible"):
        functions["ner_sample"](texts=tf.constant([["EU rejects"]]))
    with pytest.raises((ValueError, TypeError, tf.errors.InvalidArgumentError), match="(?i)dtype|string|int32"):
        functions["ner_sample"](texts=tf.constant([1, 2]))


@pytest.fixture(scope="module")
def generation_signatures(generation_models):
    root, manifests = generation_models
    loaded = {name: tf.saved_model.load(str(latest_version_dir(root / name))) for name in manifests}
    return loaded, manifests


@pytest.mark.slow
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(texts=BATCHES)
def test_fuzzed_batches_never_fail_translation_or_the_language_model(generation_signatures, texts):
    loaded, _ = generation_signatures
    translated = loaded["translation_sample"].signatures["translate_greedy"](text=tf.constant(texts, tf.string))
    assert translated["translation"].shape == (len(texts),)
    for row in range(len(texts)):
        if bool(translated["empty"][row]):
            assert translated["translation"][row].numpy() == b"" and float(translated["score"][row]) == 0.0
    scored = loaded["lm_sample"].signatures["score"](text=tf.constant(texts, tf.string))
    assert scored["log_probability"].shape == (len(texts),) and np.isfinite(scored["log_probability"].numpy()).all()


@pytest.mark.slow
def test_empty_and_long_translation_inputs_say_so(generation_signatures):
    loaded, manifests = generation_signatures
    limit = manifests["translation_sample"]["task_info"]["max_input_chars"]
    outputs = loaded["translation_sample"].signatures["translate"](text=tf.constant(["", "  ", "a dog " * limit, "A dog runs."]))
    assert outputs["empty"].numpy().tolist() == [True, True, False, False]
    assert outputs["truncated"].numpy().tolist() == [False, False, True, False]
    assert _strings(outputs["translation"].numpy())[:2] == ["", ""] and outputs["score"].numpy()[:2].tolist() == [0.0, 0.0]
