"""End to end on the bundled sample: train → evaluate → predict/explain → export → reload elsewhere.

One training run (module fixture, about half a minute on 2 cores) serves every test here;
the export tests start fresh Python processes and are marked slow.
"""

import html
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from nlp_apps.cli import main
from nlp_apps.config import load_config
from nlp_apps.export.versions import latest_version_dir
from nlp_apps.export.exporter import run_tflite, tflite_op_census
from nlp_apps.data.epochs import data_epoch
from nlp_apps.data.unknown_word_dropout import add_word_dropout
from nlp_apps.tasks.sentiment import task as sentiment_task
from nlp_apps.tasks.sentiment.task import SentimentTask
from nlp_apps.tasks.sentiment.export import document_ids

PIPELINE = "pipelines/sentiment_sample.yaml"
REVIEW = "A wonderful film. The music is lovely & the <i>photography</i> is stunning!<br /><br />I would watch it again."


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("sentiment_sample")
    config = load_config(
        [PIPELINE],
        [f"output_dir={root / 'run'}", f"export.output_dir={root / 'export'}", "train.verbose=0"],
    )
    summary = SentimentTask(config).train()
    return config, summary


def test_training_writes_run_directory(trained):
    config, summary = trained
    run_dir = config.run_dir()
    for name in ("best.keras", "config.yaml", "history.csv", "assets/vocabulary.txt", "assets/labels.json", "assets/preprocessor.json", "train_summary.json"):
        assert (run_dir / name).exists(), name
    assert json.loads((run_dir / "assets/labels.json").read_text()) == ["neg", "pos"]
    assert summary["best_dev_accuracy"] > 90


def test_tiny_model_overfits_the_sample_training_data(trained):
    config, _ = trained
    assert SentimentTask(config).evaluate("train")["accuracy"] == pytest.approx(100.0)
    assert SentimentTask(config).evaluate("test")["accuracy"] > 80


def test_predict_prints_label_and_probability(trained, capsys):
    config, _ = trained
    results = SentimentTask(config).predict([REVIEW, "A tedious waste of two hours. I would never watch it again.", ""])
    assert [result["label"] for result in results[:2]] == ["pos", "neg"]
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("pos\t") and printed[1].startswith("neg\t")
    # No words: the neutral result, saying so (not the model's guess on nothing).
    empty = results[2]
    assert empty["sentences"] == [] and empty["empty"] and empty["label"] is None and empty["probability"] is None
    assert set(empty["probabilities"].values()) == {0.5} and printed[2].startswith("(no words)")
    assert not results[0]["empty"]


def test_explanation_html_contains_every_word_and_a_png(trained, tmp_path):
    config, _ = trained
    long_review = " ".join(f"Sentence number {index} is fine." for index in range(20))  # beyond max_sentences
    [result, long_result] = SentimentTask(config).predict([REVIEW, long_review], explain_dir=tmp_path)
    page = (tmp_path / "explanation_0.html").read_text(encoding="utf-8")
    assert result["words"] and len(result["sentences"]) == 3
    for sentence in result["words"]:
        for word in sentence:
            assert f">{html.escape(word)}</span>" in page
    # The markup of the review is text here: "<", "i", ">" are words, escaped.
    assert "<i>" not in page and ">&lt;</span>" in page and ">&amp;</span>" in page
    assert (tmp_path / "explanation_0.png").stat().st_size > 1000
    # Words cut by truncation still appear, marked as such.
    long_page = (tmp_path / "explanation_1.html").read_text(encoding="utf-8")
    assert len(long_result["sentences"]) == config.text.max_sentences
    assert '<span class="word" title' in long_page and '<div class="weight">cut</div>' in long_page
    assert '<span class="word truncated" title="truncated">19</span>' in long_page


def test_cli_predict_with_explain(trained, tmp_path, capsys):
    config, _ = trained
    code = main(["predict", "-c", PIPELINE, "--set", f"output_dir={config.run_dir()}", "--text", REVIEW, "--explain", str(tmp_path)])
    assert code == 0
    assert (tmp_path / "explanation_0.html").is_file()
    assert capsys.readouterr().out.startswith("pos\t")


@pytest.fixture(scope="module")
def exported(trained):
    config, _ = trained
    manifest = SentimentTask(config).export()
    return config, manifest


@pytest.mark.slow
def test_export_writes_and_verifies_every_format(exported):
    config, manifest = exported
    export_dir = latest_version_dir(config.export_dir())
    assert (export_dir / "model.keras").is_file()
    assert (export_dir / "saved_model.pb").is_file()
    assert max(manifest["verification"]["saved_model/serving_default"]["max_abs_diff"].values()) <= 1e-5
    assert max(manifest["verification"]["tflite/float32"]["max_abs_diff"].values()) <= 1e-4
    assert manifest["task_info"]["label_names"] == ["neg", "pos"]
    assert not [path for path in export_dir.parent.iterdir() if "tmp" in path.name]


@pytest.mark.slow
def test_saved_model_in_fresh_process_agrees_with_keras_on_raw_strings(exported):
    config, _ = exported
    texts = [REVIEW, "A tedious waste of two hours. I would never watch it again.", "", "   ", "Zürich 🙂 東京 مرحبا"]
    run = SentimentTask(config).load_trained()
    expected = sentiment_task.classify_texts(run.model, run.preprocessor, texts)
    script = (
        "import json, sys, tensorflow as tf, tensorflow_text\n"
        "loaded = tf.saved_model.load(sys.argv[1])\n"
        "texts = json.loads(sys.argv[2])\n"
        "out = loaded.signatures['serving_default'](texts=tf.constant(texts))\n"
        "rows = [{'label': out['label'][i].numpy().decode(), 'probabilities': out['probabilities'][i].numpy().tolist(),\n"
        "         'sentence_attention': out['sentence_attention'][i].numpy().tolist(),\n"
        "         'words': [[w.decode() for w in s if w] for s in out['words'][i].numpy().tolist()]} for i in range(len(texts))]\n"
        "assert 'nlp_apps' not in sys.modules\n"
        "print(json.dumps(rows))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(latest_version_dir(config.export_dir())), json.dumps(texts)],
        capture_output=True, text=True, check=True,
    )
    rows = json.loads(result.stdout.strip().splitlines()[-1])
    for row, reference in zip(rows, expected):
        # No words: label None from predict, "" from the SavedModel (a string tensor); both uniform.
        assert row["label"] == (reference["label"] or "")
        np.testing.assert_allclose(row["probabilities"], list(reference["probabilities"].values()), atol=1e-5)
        num_sentences = len(reference["words"])
        np.testing.assert_allclose(row["sentence_attention"][:num_sentences], reference["sentence_attention"], atol=1e-5)
        assert [sentence for sentence in row["words"] if sentence] == reference["words"]


@pytest.mark.slow
def test_tflite_probabilities_equal_keras_at_any_document_shape_with_builtin_ops(exported):
    config, _ = exported
    run = SentimentTask(config).load_trained()
    model, preprocessor = run.model, run.preprocessor
    path = latest_version_dir(config.export_dir()) / "model_float32.tflite"
    census = tflite_op_census(path)
    assert census["flex_ops"] == 0 and census["custom_ops"] == 0
    long_review = " ".join([REVIEW] * 6)
    for text in ("Great.", REVIEW, long_review):
        token_ids = document_ids(preprocessor, text)
        expected = model.predict_with_attention(tf.constant(token_ids))
        outputs = run_tflite(path, {"token_ids": token_ids})
        assert outputs["word_attention"].shape == token_ids.shape
        np.testing.assert_allclose(outputs["probabilities"], expected["probabilities"].numpy(), atol=1e-5)
        np.testing.assert_allclose(outputs["sentence_attention"], expected["sentence_attention"].numpy(), atol=1e-5)


@pytest.mark.slow
def test_reference_app_without_tensorflow_reproduces_the_saved_model(exported, run_example_app):
    # examples/sentiment_tflite_app.py: sentence splitting, words, ids and the
    # TFLite call in plain Python; the SavedModel (raw strings in) is the reference.
    config, _ = exported
    texts = [REVIEW, "Bad.\x00 Truly awful!!) I left.\n\nNever again", "", "Zürich 🙂 東京 مرحبا", " ".join([REVIEW] * 5)]
    rows = run_example_app("sentiment_tflite_app", "SentimentApp", latest_version_dir(config.export_dir()), texts)
    serve = tf.saved_model.load(str(latest_version_dir(config.export_dir()))).signatures["serving_default"]
    outputs = serve(texts=tf.constant(texts))
    for index, (text, row) in enumerate(zip(texts, rows)):
        np.testing.assert_allclose(row["probabilities"], outputs["probabilities"][index].numpy(), atol=1e-5)
        assert row["label"] == outputs["label"][index].numpy().decode()
        sentences = [sentence.decode() for sentence in outputs["sentences"][index].numpy() if sentence]
        assert row["sentences"] == sentences, text
        words = [[word.decode() for word in sentence if word] for sentence in outputs["words"][index].numpy()]
        assert row["words"] == [sentence for sentence in words if sentence], text
    assert len(rows[1]["sentences"]) == 4  # the NUL did not cut the review


@pytest.mark.slow
def test_full_int8_tflite_runs_every_document_shape_close_to_float(trained, tmp_path):
    # The word encoder is a batch of sentences, whose backward direction needs a
    # per-row reversal: REVERSE_SEQUENCE has no int8 kernel, so it must not appear.
    config, _ = trained
    overrides = [f"output_dir={config.run_dir()}", f"export.output_dir={tmp_path}", "train.verbose=0",
                 "export.formats=[tflite]", "export.tflite_quantization=[full_int8]"]
    task = SentimentTask(load_config([PIPELINE], overrides))
    manifest = task.export()
    assert "tflite/full_int8" in manifest["verification"]
    path = Path(manifest["export_dir"]) / "model_full_int8.tflite"
    assert "REVERSE_SEQUENCE" not in tflite_op_census(path)["ops"]
    run = task.load_trained()
    for text in ("Great.", REVIEW, " ".join([REVIEW] * 6)):
        token_ids = document_ids(run.preprocessor, text)
        expected = run.model.predict_with_attention(tf.constant(token_ids))["probabilities"].numpy()
        outputs = run_tflite(path, {"token_ids": token_ids})
        assert outputs["word_attention"].shape == token_ids.shape
        np.testing.assert_allclose(outputs["probabilities"], expected, atol=0.1)


def test_unknown_word_dropout_only_replaces_real_words_and_depends_on_seed_epoch_and_batch_only():
    token_ids = tf.constant([[[5, 6, 0], [7, 0, 0]]] * 50, tf.int32)
    batches = tf.data.Dataset.from_tensors((token_ids, tf.zeros([50], tf.int32))).repeat(2)

    def draws(epoch):
        data_epoch().assign(epoch)
        return [replaced.numpy() for replaced, _ in add_word_dropout(batches, 0.5, seed=1)]

    try:
        first, second = draws(0)
        for replaced in (first, second):
            assert ((replaced == 0) == (token_ids.numpy() == 0)).all()
            assert 0.3 < (replaced == 1).sum() / (token_ids.numpy() > 0).sum() < 0.7
        assert not np.array_equal(first, second)  # each batch draws its own
        # Same epoch, same draws (a resumed run); another epoch, other draws.
        np.testing.assert_array_equal(draws(0)[0], first)
        assert not np.array_equal(draws(1)[0], first)
    finally:
        data_epoch().assign(0)


def test_explain_is_refused_by_tasks_without_explanations(capsys):
    assert main(["predict", "-c", "pipelines/ner_sample.yaml", "--text", "x", "--explain", "somewhere"]) == 2
    assert "--explain: task 'ner' does not support this option" in capsys.readouterr().err
