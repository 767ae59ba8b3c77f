"""Tests for nlp_apps.export: atomic writes, .keras, SavedModel, TFLite and fresh-process verification.

Models are tiny (a few hundred parameters, except where file sizes must be
dominated by weights). The tests that convert to TFLite also record the platform
facts the exporter's docstring states (TF 2.21): which RNN exports are
builtin-only, which need Flex, and the Keras-variable trap.
"""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text

from nlp_apps.export import QUANTIZATIONS
from nlp_apps.export import ExportManifest
from nlp_apps.export import ExportVerificationError
from nlp_apps.export import atomic_output_dir
from nlp_apps.export import atomic_output_file
from nlp_apps.export import compare_outputs
from nlp_apps.export import export_keras
from nlp_apps.export import export_saved_model
from nlp_apps.export import export_tflite
from nlp_apps.export import fused_lstm_function
from nlp_apps.export import run_tflite
from nlp_apps.export import tflite_op_names
from nlp_apps.export import verify_saved_model
from nlp_apps.export import verify_tflite
from nlp_apps.export import write_export_manifest

VOCABULARY_SIZE = 20
TOKEN_IDS = np.array([[3, 7, 1, 0, 0], [5, 2, 9, 4, 6]], dtype=np.int32)


def tiny_rnn_model(rnn_class, vocabulary_size=VOCABULARY_SIZE, embedding_dim=4, hidden_dim=5):
    """Token ids (batch, time), 0 = padding (masked) -> logits (batch, 3)."""
    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    features = keras.layers.Embedding(vocabulary_size, embedding_dim, mask_zero=True)(token_ids)
    features = rnn_class(hidden_dim)(features)
    logits = keras.layers.Dense(3)(features)
    return keras.Model(token_ids, logits)


def listing(directory):
    return sorted(os.listdir(directory))


# --------------------------------------------------------------------------- #
# Atomic writes
# --------------------------------------------------------------------------- #


def test_atomic_output_dir_creates_and_replaces(tmp_path):
    final = tmp_path / "export" / "saved_model"
    with atomic_output_dir(final) as temporary:
        assert os.path.dirname(temporary) == str(final.parent)
        (tmp_path / "export" / os.path.basename(temporary) / "a.txt").write_text("first")
    assert (final / "a.txt").read_text() == "first"

    with atomic_output_dir(final) as temporary:
        with open(os.path.join(temporary, "b.txt"), "w") as handle:
            handle.write("second")
    # The old directory is replaced as a whole, not merged into.
    assert listing(final) == ["b.txt"]
    assert listing(final.parent) == ["saved_model"]


def test_atomic_output_dir_exception_keeps_previous_and_leaves_nothing(tmp_path):
    final = tmp_path / "saved_model"
    final.mkdir()
    (final / "old.txt").write_text("previous export")

    with pytest.raises(RuntimeError, match="conversion blew up"):
        with atomic_output_dir(final) as temporary:
            with open(os.path.join(temporary, "half_written.pb"), "w") as handle:
                handle.write("partial")
            raise RuntimeError("conversion blew up")

    assert listing(tmp_path) == ["saved_model"]
    assert listing(final) == ["old.txt"]
    assert (final / "old.txt").read_text() == "previous export"


def test_atomic_output_dir_rejects_existing_file(tmp_path):
    target = tmp_path / "model"
    target.write_text("x")
    with pytest.raises(ValueError, match="not a directory"):
        with atomic_output_dir(target):
            pass


def test_atomic_output_file_success_and_failure(tmp_path):
    final = tmp_path / "model.tflite"
    with atomic_output_file(final) as temporary:
        assert temporary.endswith(".tflite")
        with open(temporary, "w") as handle:
            handle.write("v1")
    assert final.read_text() == "v1"

    with pytest.raises(KeyError):
        with atomic_output_file(final) as temporary:
            with open(temporary, "w") as handle:
                handle.write("v2, half")
            raise KeyError("boom")
    assert final.read_text() == "v1"
    assert listing(tmp_path) == ["model.tflite"]


# --------------------------------------------------------------------------- #
# .keras
# --------------------------------------------------------------------------- #


def test_export_keras_round_trip(tmp_path):
    model = tiny_rnn_model(keras.layers.LSTM)
    path = export_keras(model, tmp_path / "model.keras")
    assert listing(tmp_path) == ["model.keras"]
    restored = keras.saving.load_model(path)
    np.testing.assert_allclose(restored.predict(TOKEN_IDS, verbose=0), model.predict(TOKEN_IDS, verbose=0), atol=1e-6)

    with pytest.raises(ValueError, match="must end with '.keras'"):
        export_keras(model, tmp_path / "model.h5")


# --------------------------------------------------------------------------- #
# SavedModel
# --------------------------------------------------------------------------- #


class TextClassifierServing(tf.Module):
    """Raw strings (batch,) -> logits (batch, 3) and token counts, for the SavedModel tests.

    Tokenizes in-graph with tensorflow-text and hashes tokens to ids 1..19, so
    the fresh process needs the tensorflow_text ops but no Python vocabulary.
    """

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.tokenizer = tensorflow_text.WhitespaceTokenizer()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def serving_default(self, text):
        tokens = self.tokenizer.tokenize(tf.strings.lower(text))
        token_ids = tf.strings.to_hash_bucket_fast(tokens, VOCABULARY_SIZE - 1) + 1
        token_ids = tf.cast(token_ids.to_tensor(default_value=0), tf.int32)
        return {
            "logits": self.model(token_ids, training=False),
            "num_tokens": tf.cast(tokens.row_lengths(), tf.int32),
            "first_token": tokens.to_tensor(default_value="", shape=[None, 1])[:, 0],
        }


TEXT = np.array([b"The cat sat on the mat", b"dogs run", b"a b c d e f g"])


@pytest.fixture(scope="module")
def string_saved_model(tmp_path_factory):
    keras.utils.set_random_seed(7)
    module = TextClassifierServing(tiny_rnn_model(keras.layers.GRU))
    expected = {key: value.numpy() for key, value in module.serving_default(tf.constant(TEXT)).items()}
    path = export_saved_model(module, tmp_path_factory.mktemp("saved") / "saved_model")
    return path, expected


def test_saved_model_with_string_input_verifies_in_fresh_process(string_saved_model):
    path, expected = string_saved_model
    assert expected["num_tokens"].tolist() == [6, 2, 7]
    report = verify_saved_model(path, {"text": TEXT}, expected)
    assert set(report["max_abs_diff"]) == {"logits", "num_tokens", "first_token"}
    assert report["max_abs_diff"]["logits"] <= 1e-5
    assert report["max_abs_diff"]["first_token"] == 0.0
    # The worker ran without nlp_apps (tensorflow itself loads the keras package).
    assert report["worker_imported"]["nlp_apps"] is False
    assert report["worker_imported"]["tensorflow_text"] is True


@pytest.mark.slow
def test_saved_model_verification_fails_on_perturbed_expected(string_saved_model):
    path, expected = string_saved_model
    perturbed = dict(expected, logits=expected["logits"] + 0.01)
    with pytest.raises(ExportVerificationError, match=r"output 'logits': max abs diff 0.01") as info:
        verify_saved_model(path, {"text": TEXT}, perturbed)
    assert info.value.key == "logits"
    assert info.value.max_abs_diff == pytest.approx(0.01, abs=1e-6)
    # A wrong signature name is reported from the fresh process, not silently ignored.
    with pytest.raises(ExportVerificationError, match="no signature 'translate'"):
        verify_saved_model(path, {"text": TEXT}, expected, signature="translate")


def test_export_saved_model_of_keras_model_and_its_tflite_conversion(tmp_path):
    model = tiny_rnn_model(keras.layers.GRU)
    expected = model(TOKEN_IDS).numpy()
    # A fixed batch so that the SavedModel also converts builtin-only below.
    signature = [tf.TensorSpec([2, None], tf.int32, name="token_ids")]
    path = export_saved_model(model, tmp_path / "saved_model", input_signature=signature)
    loaded = tf.saved_model.load(path)
    outputs = loaded.signatures["serving_default"](token_ids=tf.constant(TOKEN_IDS))
    np.testing.assert_allclose(outputs["output_0"].numpy(), expected, atol=1e-6)
    # Converting the SavedModel itself must give initialized weights (the
    # Keras-variable trap: without the raw variables tracked it returns ~1e30).
    flatbuffer = tf.lite.TFLiteConverter.from_saved_model(path).convert()
    assert "VAR_HANDLE" not in tflite_op_names(flatbuffer)

    with pytest.raises(ValueError, match="no `serving_default`"):
        export_saved_model(tf.Module(), tmp_path / "empty")
    assert not (tmp_path / "empty").exists()


# --------------------------------------------------------------------------- #
# TFLite
# --------------------------------------------------------------------------- #


def test_unknown_quantization_raises(tmp_path):
    with pytest.raises(ValueError, match=r"unknown quantization 'int4'.*'float32', 'float16', 'dynamic_int8'"):
        export_tflite(tiny_rnn_model(keras.layers.GRU), tmp_path / "m.tflite", quantization="int4")
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def gru_model():
    keras.utils.set_random_seed(11)
    return tiny_rnn_model(keras.layers.GRU)


def test_tflite_float32_matches_keras_and_verifies_in_fresh_process(tmp_path, gru_model):
    # A fixed batch is what makes a Keras RNN convert builtin-only; time stays dynamic.
    signature = [tf.TensorSpec([2, None], tf.int32, name="token_ids")]
    path = export_tflite(gru_model, tmp_path / "model.tflite", input_signature=signature)
    ops = tflite_op_names(path)
    assert "WHILE" in ops and not any(op.startswith("Flex") for op in ops)
    for length in (5, 3):
        ids = TOKEN_IDS[:, :length]
        outputs = run_tflite(path, {"token_ids": ids})
        np.testing.assert_allclose(outputs["output_0"], gru_model(ids).numpy(), atol=1e-5)
    # Positional inputs and int64 ids (cast to the model's int32) work too.
    outputs = run_tflite(path, [TOKEN_IDS.astype(np.int64)])
    np.testing.assert_allclose(outputs["output_0"], gru_model(TOKEN_IDS).numpy(), atol=1e-5)

    expected = {"output_0": gru_model(TOKEN_IDS).numpy()}
    report = verify_tflite(path, {"token_ids": TOKEN_IDS}, expected, atol=1e-5)
    assert report["max_abs_diff"]["output_0"] <= 1e-5
    # A TFLite check without custom ops needs LiteRT only, not TensorFlow.
    assert report["worker_imported"]["tensorflow"] is False

    with pytest.raises(ExportVerificationError, match="output 'output_0': max abs diff") as info:
        verify_tflite(path, {"token_ids": TOKEN_IDS}, {"output_0": expected["output_0"] + 1.0})
    assert info.value.key == "output_0"


def test_tflite_float16_and_dynamic_int8_are_smaller_and_close(tmp_path):
    # Weights must dominate the file size for the comparison to mean anything,
    # and dynamic-range quantization skips tensors under 1024 elements.
    model = tiny_rnn_model(keras.layers.GRU, vocabulary_size=500, embedding_dim=16, hidden_dim=8)
    ids = np.array([[12, 400, 7, 99, 3, 250]], dtype=np.int32)
    expected = model(ids).numpy()
    signature = [tf.TensorSpec([1, None], tf.int32, name="token_ids")]
    sizes = {}
    for quantization, atol in (("float32", 1e-5), ("float16", 1e-2), ("dynamic_int8", 5e-2)):
        path = export_tflite(
            model, tmp_path / f"{quantization}.tflite", quantization=quantization, input_signature=signature
        )
        sizes[quantization] = os.path.getsize(path)
        outputs = run_tflite(path, {"token_ids": ids})
        np.testing.assert_allclose(outputs["output_0"], expected, atol=atol)
    assert sizes["float16"] < sizes["float32"]
    assert sizes["dynamic_int8"] < sizes["float16"]
    assert set(QUANTIZATIONS) - {"full_int8"} == set(sizes)


def test_full_int8_quantizes_activations_on_the_representative_dataset(tmp_path):
    features = keras.Input(shape=(64,), name="features")
    hidden = keras.layers.Dense(32, activation="relu")(features)
    model = keras.Model(features, keras.layers.Dense(4)(hidden))
    rng = np.random.default_rng(0)

    def representative_dataset():
        for _ in range(100):
            yield {"features": rng.normal(size=(1, 64)).astype(np.float32)}

    signature = [tf.TensorSpec([1, 64], tf.float32, name="features")]
    path = export_tflite(
        model, tmp_path / "int8.tflite", quantization="full_int8",
        representative_dataset=representative_dataset, input_signature=signature,
    )
    # Activations are quantized too; inputs and outputs stay float.
    assert tflite_op_names(path)[0] == "QUANTIZE"
    sample = rng.normal(size=(1, 64)).astype(np.float32)
    outputs = run_tflite(path, {"features": sample})
    np.testing.assert_allclose(outputs["output_0"], model(sample).numpy(), atol=0.15)

    with pytest.raises(ValueError, match="representative_dataset is only used with quantization='full_int8'"):
        export_tflite(model, tmp_path / "f16.tflite", quantization="float16", representative_dataset=representative_dataset)
    with pytest.raises(ValueError, match="'full_int8' needs a representative_dataset"):
        export_tflite(model, tmp_path / "int8b.tflite", quantization="full_int8", input_signature=signature)


def test_keras_lstm_dynamic_batch_needs_flex_fixed_batch_is_builtin(tmp_path):
    """Records the TF 2.21 behaviour the exporter documents."""
    model = tiny_rnn_model(keras.layers.LSTM)
    # Dynamic batch: builtin-only conversion fails on TensorList ops.
    with pytest.raises(ValueError, match="TensorList") as info:
        export_tflite(model, tmp_path / "dynamic.tflite")
    assert "input_signature" in str(info.value)
    assert not (tmp_path / "dynamic.tflite").exists()

    # With Flex allowed it converts, but LiteRT's pip interpreter has no Flex delegate.
    flex_path = export_tflite(model, tmp_path / "flex.tflite", select_tf_ops=True)
    assert any(op.startswith("Flex") for op in tflite_op_names(flex_path))
    with pytest.raises(RuntimeError, match="Flex delegate"):
        run_tflite(flex_path, {"token_ids": TOKEN_IDS})

    # Fixed batch, dynamic time: builtin-only WHILE loop, equal to Keras (masking included).
    signature = [tf.TensorSpec([2, None], tf.int32, name="token_ids")]
    path = export_tflite(model, tmp_path / "fixed.tflite", input_signature=signature)
    assert "WHILE" in tflite_op_names(path)
    outputs = run_tflite(path, {"token_ids": TOKEN_IDS})
    np.testing.assert_allclose(outputs["output_0"], model(TOKEN_IDS).numpy(), atol=1e-5)


class TwoEndpointServing(tf.Module):
    """Token ids -> logits, and token ids -> pooled embeddings, over one Keras model."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.embedding = model.layers[1]

    @tf.function(input_signature=[tf.TensorSpec([1, None], tf.int32, name="token_ids")])
    def classify(self, token_ids):
        return {"logits": self.model(token_ids, training=False)}

    @tf.function(input_signature=[tf.TensorSpec([1, None], tf.int32, name="token_ids")])
    def embed(self, token_ids):
        return {"pooled": tf.reduce_mean(self.embedding(token_ids), axis=1)}


def test_tflite_from_module_functions_has_initialized_keras_weights(tmp_path, gru_model):
    module = TwoEndpointServing(gru_model)
    ids = TOKEN_IDS[1:]
    expected_logits = module.classify(ids)["logits"].numpy()
    # A single function converted with its module as the trackable object.
    path = export_tflite(module.classify, tmp_path / "classify.tflite", trackable_obj=module)
    assert "VAR_HANDLE" not in tflite_op_names(path)
    outputs = run_tflite(path, {"token_ids": ids})
    np.testing.assert_allclose(outputs["logits"], expected_logits, atol=1e-5)

    # Several signatures in one file.
    path = export_tflite(
        {"classify": module.classify, "embed": module.embed}, tmp_path / "two.tflite", trackable_obj=module
    )
    np.testing.assert_allclose(
        run_tflite(path, {"token_ids": ids}, signature="classify")["logits"], expected_logits, atol=1e-5
    )
    np.testing.assert_allclose(
        run_tflite(path, {"token_ids": ids}, signature="embed")["pooled"],
        module.embed(ids)["pooled"].numpy(),
        atol=1e-6,
    )
    with pytest.raises(ValueError, match=r"signatures \['classify', 'embed'\]; pass `signature`"):
        run_tflite(path, {"token_ids": ids})


@pytest.mark.parametrize("go_backwards", [False, True])
def test_fused_lstm_function_is_one_builtin_op_matching_keras(tmp_path, go_backwards):
    lstm = keras.layers.LSTM(6, return_sequences=True, go_backwards=go_backwards)
    lstm.build((1, None, 4))
    run_lstm = fused_lstm_function(lstm, batch_size=1)

    class Serving(tf.Module):
        def __init__(self):
            super().__init__()
            self.lstm = lstm

        @tf.function(input_signature=[tf.TensorSpec([1, None, 4], tf.float32, name="features")])
        def serving_default(self, features):
            sequence, last = run_lstm(features)
            return {"sequence": sequence, "last": last}

    module = Serving()
    path = export_tflite(module.serving_default, tmp_path / "lstm.tflite", trackable_obj=module)
    ops = tflite_op_names(path)
    assert ops.count("UNIDIRECTIONAL_SEQUENCE_LSTM") == 1
    assert "WHILE" not in ops
    for length in (7, 2):
        features = np.random.default_rng(length).normal(size=(1, length, 4)).astype(np.float32)
        keras_sequence = lstm(features).numpy()
        # The TF body (what a SavedModel runs) and the fused op both equal Keras.
        np.testing.assert_allclose(module.serving_default(features)["sequence"].numpy(), keras_sequence, atol=1e-6)
        outputs = run_tflite(path, {"features": features})
        np.testing.assert_allclose(outputs["sequence"], keras_sequence, atol=1e-6)
        np.testing.assert_allclose(outputs["last"], keras_sequence[:, -1], atol=1e-6)


def test_fused_lstm_function_rejects_unsupported_layers():
    with pytest.raises(ValueError, match="not built"):
        fused_lstm_function(keras.layers.LSTM(3))
    relu_lstm = keras.layers.LSTM(3, activation="relu")
    relu_lstm.build((1, None, 2))
    with pytest.raises(ValueError, match="activation='tanh'"):
        fused_lstm_function(relu_lstm)
    with pytest.raises(ValueError, match="keras.layers.LSTM"):
        fused_lstm_function(keras.layers.GRU(3))


class WordpieceServing(tf.Module):
    """Raw strings -> mean-pooled embeddings, tokenized by FastWordpieceTokenizer (a TFLite custom op)."""

    VOCABULARY = ["[UNK]", "the", "cat", "sat", "on", "mat"]

    def __init__(self):
        super().__init__()
        self.tokenizer = tensorflow_text.FastWordpieceTokenizer(
            vocab=self.VOCABULARY, token_out_type=tf.int64, unknown_token="[UNK]",
            support_detokenization=False,
        )
        self.embedding = keras.layers.Embedding(len(self.VOCABULARY) + 1, 3)
        self.embedding.build((None,))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def serving_default(self, text):
        token_ids = self.tokenizer.tokenize(text).to_tensor(default_value=-1) + 1
        # tf.expand_dims, not [..., None]: the latter becomes an unresolvable
        # StridedSlice custom op next to the ragged ops.
        mask = tf.expand_dims(tf.cast(token_ids > 0, tf.float32), -1)
        pooled = tf.reduce_sum(self.embedding(token_ids) * mask, 1) / tf.maximum(tf.reduce_sum(mask, 1), 1.0)
        return {"pooled": pooled, "num_tokens": tf.cast(tf.reduce_sum(mask, [1, 2]), tf.int32)}


WORDPIECE_TEXT = np.array([b"the cat sat", b"on the mat dog"])


@pytest.fixture(scope="module")
def wordpiece_tflite(tmp_path_factory):
    module = WordpieceServing()
    expected = {key: value.numpy() for key, value in module.serving_default(tf.constant(WORDPIECE_TEXT)).items()}
    path = tmp_path_factory.mktemp("wordpiece") / "text.tflite"
    with pytest.raises(ValueError, match="allow_custom_ops=True"):
        export_tflite(module.serving_default, path, trackable_obj=module)
    export_tflite(module.serving_default, path, trackable_obj=module, allow_custom_ops=True)
    return str(path), expected


def test_tflite_with_tensorflow_text_custom_ops(wordpiece_tflite):
    path, expected = wordpiece_tflite
    assert "FastWordpieceTokenizeWithOffsets" in tflite_op_names(path)
    outputs = run_tflite(path, {"text": WORDPIECE_TEXT}, custom_text_ops=True)
    assert outputs["num_tokens"].tolist() == [3, 4]
    compare_outputs(outputs, expected, atol=1e-6)
    with pytest.raises(RuntimeError, match="FastWordpieceTokenizeWithOffsets"):
        run_tflite(path, {"text": WORDPIECE_TEXT})


@pytest.mark.slow
def test_verify_tflite_with_custom_text_ops_in_fresh_process(wordpiece_tflite):
    path, expected = wordpiece_tflite
    report = verify_tflite(path, {"text": WORDPIECE_TEXT.astype(str)}, expected, atol=1e-6, custom_text_ops=True)
    assert report["max_abs_diff"]["num_tokens"] == 0.0


# --------------------------------------------------------------------------- #
# Comparison and manifest
# --------------------------------------------------------------------------- #


def test_compare_outputs_reports_strings_shapes_missing_and_nan():
    assert compare_outputs({"a": np.array([b"x", b"y"], dtype=object)}, {"a": np.array(["x", "y"])}) == {"a": 0.0}
    with pytest.raises(ExportVerificationError, match=r"output 'a': 1 of 2 strings differ, first at \(1,\)"):
        compare_outputs({"a": np.array([b"x", b"z"])}, {"a": np.array([b"x", b"y"])})
    with pytest.raises(ExportVerificationError, match=r"output 'a' has shape \(2,\), expected \(3,\)"):
        compare_outputs({"a": np.zeros(2)}, {"a": np.zeros(3)})
    with pytest.raises(ExportVerificationError, match="expected output 'b' is missing"):
        compare_outputs({"a": np.zeros(2)}, {"b": np.zeros(2)})
    with pytest.raises(ExportVerificationError, match="output 'a': max abs diff inf"):
        compare_outputs({"a": np.array([np.nan, 1.0])}, {"a": np.array([0.0, 1.0])})
    assert compare_outputs({"a": np.array([np.nan, 1.0])}, {"a": np.array([np.nan, 1.0])}) == {"a": 0.0}


def test_write_export_manifest(tmp_path):
    (tmp_path / "model.tflite").write_bytes(b"\0" * 10)
    (tmp_path / "saved_model" / "variables").mkdir(parents=True)
    (tmp_path / "saved_model" / "saved_model.pb").write_bytes(b"\0" * 7)
    (tmp_path / "saved_model" / "variables" / "variables.index").write_bytes(b"\0" * 5)
    (tmp_path / ".model.tflite.tmp-abc.tflite").write_bytes(b"leftover")
    (tmp_path / "source.model").write_bytes(b"\0" * 3)
    artifacts = ExportManifest(
        export_dir=str(tmp_path),
        task="language_model",
        task_info={"vocabulary_size": 7},
        verification={"tflite/float32": {"max_abs_diff": {"logits": np.float32(2e-7)}, "atol": 1e-4}},
        notes=["tflite: fixed batch 1"],
    )
    artifacts.add("saved_model", tmp_path / "saved_model")
    artifacts.add("tflite/float32", tmp_path / "model.tflite")
    artifacts.add("assets/source.model", "source.model")
    path = artifacts.write_manifest()
    manifest = json.loads(open(path).read())
    assert manifest["task"] == "language_model" and manifest["task_info"] == {"vocabulary_size": 7}
    assert manifest["formats"] == ["saved_model", "tflite/float32"]
    assert manifest["artifacts"]["tflite/float32"] == "model.tflite"
    assert manifest["artifacts"]["assets/source.model"] == "source.model"
    assert artifacts.summary_lines() == ["  verified tflite/float32 in a fresh process: max abs diff 2e-07 (atol 0.0001)"]
    assert manifest["artifact_bytes"] == {"model.tflite": 10, "saved_model": 12, "source.model": 3}
    assert {entry["path"] for entry in manifest["files"]} == {
        "model.tflite", "saved_model/saved_model.pb", "saved_model/variables/variables.index", "source.model"
    }
    assert manifest["verification"]["tflite/float32"]["max_abs_diff"]["logits"] == pytest.approx(2e-7)
    assert manifest["versions"]["tensorflow"] == tf.__version__
    assert manifest["versions"]["keras"] == keras.__version__
    assert manifest["versions"]["tensorflow_text"]

    with pytest.raises(ValueError, match=r"reserved keys \['files'\]"):
        write_export_manifest(tmp_path, {"files": []})
    with pytest.raises(ValueError, match="is not a directory"):
        write_export_manifest(tmp_path / "missing", {})


def test_prepare_export_dir_rejects_unknown_formats_before_creating_anything(tmp_path):
    from nlp_apps.export.exporter import prepare_export_dir

    with pytest.raises(ValueError, match="export.formats: unknown format.*onnx"):
        prepare_export_dir(tmp_path / "out", ["keras", "onnx"])
    with pytest.raises(ValueError, match="export.tflite_quantization: unknown int4"):
        prepare_export_dir(tmp_path / "out", ["tflite"], ["int4"])
    assert not (tmp_path / "out").exists()
    assert prepare_export_dir(tmp_path / "out", ["keras"], ["float16"]).is_dir()
