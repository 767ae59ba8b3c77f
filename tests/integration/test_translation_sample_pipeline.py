"""End to end on the bundled translation sample: train → evaluate → predict → export → reload elsewhere.

One training run (module fixture, about 3 minutes on 2 cores) serves every
test, so the whole module is marked slow (CI runs it after the default suite).
The translation model itself is covered by fast unit tests in tests/decoders
and tests/tasks/test_translator.py.
"""

import json

import numpy as np
import pytest
import tensorflow as tf

from nlp_apps import cli
from nlp_apps.config import load_config
from nlp_apps.export.versions import latest_version_dir
from nlp_apps.export.exporter import run_tflite, tflite_op_census
from nlp_apps.tasks.translation.task import TranslationTask, translate_texts
from nlp_apps.tasks.translation.export import TranslationServing, tflite_source_ids
from nlp_apps.tasks.translation.inference import DEFAULT_MAX_DECODE_LENGTH

pytestmark = pytest.mark.slow

PIPELINE = "pipelines/translation_sample.yaml"
HARD_INPUTS = ["", "   ", "Zürich 🙂 東京 qwxzv!", " ".join(["cat"] * 500)]


def sample_config(root, *overrides):
    return load_config(
        [PIPELINE],
        [f"output_dir={root / 'run'}", f"export.output_dir={root / 'export'}", "train.verbose=0", *overrides],
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    config = sample_config(tmp_path_factory.mktemp("translation_sample"))
    summary = TranslationTask(config).train()
    return config, summary


@pytest.fixture(scope="module")
def run(trained):
    config, _ = trained
    return TranslationTask(config).load_trained()


@pytest.fixture(scope="module")
def inference(run):
    return run.inference


def test_training_writes_run_directory_and_learns(trained):
    config, summary = trained
    run_dir = config.run_dir()
    for name in ("best.keras", "config.yaml", "history.csv", "assets/source.model", "assets/target.model", "train_summary.json"):
        assert (run_dir / name).exists(), name
    # An untrained model scores ~0; this configuration reached 35.8 (greedy) when tuned.
    assert summary["best_dev_bleu_greedy"] > 20
    assert [point["epoch"] for point in summary["dev_bleu_curve"]] == list(range(1, summary["epochs_run"] + 1))
    # The dev BLEU callback traces its search once; it must still read each epoch's weights.
    assert summary["dev_bleu_curve"][0]["dev_bleu_greedy"] < summary["best_dev_bleu_greedy"]


def test_evaluate_scores_with_sacrebleu_and_writes_hypotheses(trained, run):
    config, _ = trained
    beam = TranslationTask(config).evaluate("test", run=run, beam_size=4)
    greedy = TranslationTask(config).evaluate("test", run=run, beam_size=1)
    assert beam["bleu"] > 15 and greedy["bleu"] > 15
    assert beam["bleu_signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a")
    assert beam["bleu_lowercase"] >= beam["bleu"] and "case:lc" in beam["bleu_lowercase_signature"]
    hypotheses = (config.run_dir() / "hypotheses_test_beam4.txt").read_text(encoding="utf-8").splitlines()
    assert len(hypotheses) == beam["sentences"] == 50
    assert json.loads((config.run_dir() / "eval_test_greedy.json").read_text())["bleu"] == greedy["bleu"]


def test_hard_inputs_translate_within_the_length_limit(inference):
    for options in ({"beam_size": 1, "method": "greedy"}, {"beam_size": 4, "method": "beam"}):
        results = translate_texts(inference, HARD_INPUTS, **options)
        assert [result["text"] for result in results] == HARD_INPUTS
        for result in results:
            assert isinstance(result["translation"], str)
            assert len(result["ids"]) <= DEFAULT_MAX_DECODE_LENGTH
            assert np.isfinite(result["score"])
            assert np.all(np.isfinite(result["attention"]))
        # The 500-word source is truncated to text.max_length pieces; its output is
        # bounded by 2 x 40 + 10 pieces.
        assert len(results[-1]["ids"]) <= 2 * 40 + 10


def test_results_come_back_in_input_order_whatever_the_batching(inference):
    texts = ["The dog sees the house.", "A man is reading.", "The small cat likes the big apple in the city."]
    one_by_one = [translate_texts(inference, [text], beam_size=1, method="greedy")[0]["translation"] for text in texts]
    batched = [result["translation"] for result in translate_texts(inference, texts, batch_size=2, beam_size=1, method="greedy")]
    assert batched == one_by_one


def test_cli_predict_prints_translations_and_plots_attention(trained, tmp_path, capsys):
    config, _ = trained
    arguments = ["predict", "-c", PIPELINE, "--set", f"output_dir={config.run_dir()}", "--text", "The cat likes the apple.", "--text", ""]
    assert cli.main(arguments + ["--plot-attention", str(tmp_path / "plots"), "--format", "json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["text"] for line in lines] == ["The cat likes the apple.", ""]
    # The empty text translates to "" and says so (no guess, no heat-map of nothing).
    assert lines[1]["empty"] and lines[1]["translation"] == "" and not lines[0]["empty"]
    plots = sorted((tmp_path / "plots").glob("*.png"))
    assert len(plots) == 1 and plots[0].stat().st_size > 1000 and "attention_plot" not in lines[1]
    assert cli.main(arguments + ["--beam-size", "1"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2


@pytest.fixture(scope="module")
def exported(trained):
    config, _ = trained
    return config, TranslationTask(config).export()


def test_export_writes_and_verifies_every_format(exported):
    config, manifest = exported
    export_dir = latest_version_dir(config.export_dir())
    for name in ("model.keras", "source.model", "target.model", "saved_model.pb", "translate_float32.tflite"):
        assert (export_dir / name).is_file(), name
    for signature in ("translate", "translate_greedy"):
        report = manifest["verification"][f"saved_model/{signature}"]
        assert report["signature"] == signature and not report["worker_imported"]["nlp_apps"]
    assert manifest["verification"]["tflite/float32"]["max_abs_diff"] == {"ids": 0.0}
    assert manifest["artifacts"]["assets/source.model"] == "source.model"


def test_saved_model_translates_raw_strings_like_keras(exported, inference):
    config, _ = exported
    texts = ["The dog sees the house.", *HARD_INPUTS]
    module = TranslationServing(inference.model, inference.preprocessor, beam_size=config.model.beam_size)
    expected = module.translate_signature(tf.constant(texts))
    loaded = tf.saved_model.load(str(latest_version_dir(config.export_dir())))
    outputs = loaded.signatures["translate"](text=tf.constant(texts))
    assert outputs["translation"].numpy().tolist() == expected["translation"].numpy().tolist()
    np.testing.assert_allclose(outputs["score"].numpy(), expected["score"].numpy(), atol=1e-4)
    # The attention's axes come labelled with the pieces (what a heat-map shows).
    pieces = inference.preprocessor.source_pieces([texts[0]])[0]
    assert [piece.decode() for piece in outputs["source_pieces"].numpy()[0] if piece] == pieces
    target = [int(i) for i in outputs["ids"].numpy()[0] if i > 0]
    assert [piece.decode() for piece in outputs["target_pieces"].numpy()[0] if piece] == inference.preprocessor.target_pieces(target)
    assert outputs["attention"].shape[1:] == (outputs["target_pieces"].shape[1], outputs["source_pieces"].shape[1])


def test_tflite_greedy_matches_in_graph_greedy_at_any_source_length(exported, inference):
    config, _ = exported
    path = str(latest_version_dir(config.export_dir()) / "translate_float32.tflite")
    census = tflite_op_census(path)
    assert census["flex_ops"] == 0 and census["custom_ops"] == 0
    for text in ("Hello.", "The cat likes the small apple in the city.", " ".join(["The cat likes the small apple."] * 4)):
        source_ids = tflite_source_ids(inference, text)
        assert source_ids.shape[1] == min(len(inference.preprocessor.encode_source(tf.constant([text]))[0]), 64)
        ids = run_tflite(path, {"source_ids": source_ids})["ids"]
        expected = translate_texts(inference, [text[:10_000]], beam_size=1, method="greedy")[0]["ids"]
        if source_ids.shape[1] < 64:
            assert ids[0][: len(expected)].tolist() == expected and not ids[0][len(expected):].any()


def test_encoder_and_decoder_step_models_reproduce_greedy_translation_when_driven_from_python(exported, inference):
    # The pair an app runs its own beam search around: explicit states in and out.
    from nlp_apps.tasks.translation.export import greedy_with_step_models

    config, manifest = exported
    export_dir = latest_version_dir(config.export_dir())
    for name in ("tflite/translate_encoder/float32", "tflite/translate_decoder_step/float32"):
        assert name in manifest["artifacts"] and name in manifest["verification"]
        census = manifest["op_census"][name]
        assert census["flex_ops"] == 0 and census["custom_ops"] == 0
    assert manifest["op_census"]["tflite/translate_decoder_step/float32"]["while_ops"] == 0

    def runner(stem):
        path = str(export_dir / f"{stem}_float32.tflite")
        return lambda **inputs: run_tflite(path, inputs)

    encode, step = runner("translate_encoder"), runner("translate_decoder_step")
    for text in ("Hello.", "The cat likes the small apple in the city.", " ".join(["The cat likes the small apple."] * 3)):
        ids = greedy_with_step_models(encode, step, tflite_source_ids(inference, text))[0].tolist()
        expected = translate_texts(inference, [text], beam_size=1, method="greedy")[0]["ids"]
        assert [i for i in ids if i != 3] == expected
        assert len(ids) == len(expected) + 1 and ids[-1] == 3
