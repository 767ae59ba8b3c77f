"""Raw-string translation (tokenize → search → detokenize in one graph) on an untrained tiny model."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from nlp_apps.data.parallel_reader import read_parallel
from nlp_apps.data.sample_data import resolve_data_dir
from nlp_apps.decoders.attention_decoder import AttentionDecoder
from nlp_apps.encoders.rnn_encoder import RNNEncoder
from nlp_apps.tasks.translation.inference import TranslationInference, check_method, check_projection_dtype, decode_length_limits
from nlp_apps.tasks.translation.task import translate_texts
from nlp_apps.tasks.translation.preprocessor import TranslationPreprocessor
from nlp_apps.tasks.translation.model import Translator

HARD_INPUTS = ["", "   ", "Zürich 🙂 東京 qwxzv!", " ".join(["cat"] * 500), "The dog sees the house."]


@pytest.fixture(scope="module")
def inference():
    folder = resolve_data_dir("sample:translation_sample")
    pairs = read_parallel(f"{folder}/train.en", f"{folder}/train.de")
    preprocessor = TranslationPreprocessor.from_training_data(list(pairs["source"]), list(pairs["target"]), vocabulary_size=150, max_length=20)
    keras.utils.set_random_seed(3)
    encoder = RNNEncoder(preprocessor.source_vocabulary_size, 8, units=8, return_state=True)
    decoder = AttentionDecoder(preprocessor.target_vocabulary_size, 8, 12, tie_embeddings=True)
    model = Translator(encoder, decoder)
    model.build()
    return TranslationInference(model, preprocessor)


@pytest.mark.parametrize("options", [{"beam_size": 1, "method": "greedy"}, {"beam_size": 3, "method": "beam"},
                                     {"beam_size": 1, "method": "sample", "seed": 4}])
def test_hard_inputs_give_bounded_finite_outputs(inference, options):
    outputs = inference.translate(tf.constant(HARD_INPUTS), **options)
    translations = outputs["translations"].numpy()
    assert translations.shape == (len(HARD_INPUTS),) and translations.dtype == object
    ids = outputs["ids"].numpy()
    # The 500-word source is cut to max_length (20) pieces: at most 2 x 20 + 10 output pieces.
    assert ids.shape[1] <= 50
    assert np.all(np.isfinite(outputs["scores"].numpy())) and np.all(np.isfinite(outputs["attention"].numpy()))


def test_each_sentence_gets_its_own_output_limit(inference):
    source_ids = inference.source_ids(tf.constant(["a b c", ""]))
    lengths = (source_ids.numpy() != 0).sum(axis=1)
    assert decode_length_limits(source_ids, 0).numpy().tolist() == (2 * lengths + 10).tolist()
    assert decode_length_limits(source_ids, 5).numpy().tolist() == [5, 5]
    # An untrained model rarely ends by itself: each output stops at its own limit.
    outputs = inference.translate(tf.constant(["a b c", ""]), beam_size=1, method="greedy")
    assert ((outputs["ids"].numpy() != 0).sum(axis=1) <= 2 * lengths + 10).all()


def test_translate_texts_traces_the_search_once_per_options(inference):
    options = {"beam_size": 2, "method": "beam"}
    first = translate_texts(inference, ["a b c", "the dog"], batch_size=1, **options)
    second = translate_texts(inference, ["the dog"], **options)
    compiled = inference.compiled(**options)
    assert compiled is inference.compiled(method="beam", beam_size=2)
    assert compiled.experimental_get_tracing_count() == 1
    assert second[0]["translation"] == first[1]["translation"]
    assert inference.compiled(beam_size=1, method="greedy") is not compiled
    # The cache is not a tracked attribute: an exported module does not carry it.
    assert "_compiled_by_options" not in [name for name, _ in inference._trackable_children(save_type="savedmodel").items()]


@pytest.mark.slow  # one graph trace per sentence; ~15 s
def test_translate_texts_keeps_input_order_and_matches_one_by_one(inference):
    options = {"beam_size": 2, "method": "beam"}
    batched = translate_texts(inference, HARD_INPUTS, batch_size=2, **options)
    assert [row["text"] for row in batched] == HARD_INPUTS
    for text, row in zip(HARD_INPUTS, batched):
        alone = translate_texts(inference, [text], **options)[0]
        assert alone["translation"] == row["translation"] and alone["ids"] == row["ids"]
        assert row["attention"].shape[0] == len(row["ids"])
    assert translate_texts(inference, []) == []


def test_bad_search_options_name_the_field():
    with pytest.raises(ValueError, match="method: unknown 'viterbi'"):
        check_method("viterbi", 1)
    with pytest.raises(ValueError, match="model.beam_size: expected an integer >= 1"):
        check_method("beam", 0)
    with pytest.raises(ValueError, match="model.output_projection_dtype: unknown 'float16'"):
        check_projection_dtype("float16")
    check_projection_dtype("bfloat16")
