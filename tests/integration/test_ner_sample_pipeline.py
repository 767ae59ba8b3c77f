"""End to end on the bundled sample: train → evaluate → predict → export → reload elsewhere.

One training run (module fixture, about a minute on 2 cores) serves every test here.
"""

import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from nlp_apps.config import load_config
from nlp_apps.export.serving_warmup import read_warmup_requests
from nlp_apps.export.verify import ExportVerificationError
from nlp_apps.export.versions import existing_versions, latest_version_dir
from nlp_apps.tasks import base as base_task
from nlp_apps.export.exporter import run_tflite, tflite_op_census
from nlp_apps.tasks.ner import task as ner_task
from nlp_apps.tasks.ner.export import sentence_features
from nlp_apps.tasks.ner.preprocessor import FEATURE_KEYS
from nlp_apps.tasks.ner.task import NERTask

PIPELINE = "pipelines/ner_sample.yaml"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("ner_sample")
    config = load_config(
        [PIPELINE],
        [f"output_dir={root / 'run'}", f"export.output_dir={root / 'ner_sample'}", "train.verbose=0", "train.epochs=10"],
    )
    summary = NERTask(config).train()
    return config, summary


def _overrides(config):
    return [f"output_dir={config.run_dir()}", f"export.output_dir={config.export_dir()}", "train.verbose=0"]


def test_training_writes_run_directory(trained):
    config, summary = trained
    run_dir = config.run_dir()
    for name in ("best.keras", "config.yaml", "history.csv", "assets/vocabulary.txt", "assets/tags.json", "assets/preprocessor.json", "train_summary.json"):
        assert (run_dir / name).exists(), name
    assert summary["best_dev_f1"] > 90


def test_tiny_tagger_overfits_the_sample_training_data(trained):
    config, _ = trained
    assert NERTask(config).evaluate("train")["f1"] == pytest.approx(100.0)
    assert json.loads((config.run_dir() / "eval_train.json").read_text())["f1"] == pytest.approx(100.0)


def test_predict_returns_entities_with_character_offsets(trained):
    config, _ = trained
    text = "Orin Lindqvar visited Valdoria on Sunday ."
    [result] = NERTask(config).predict([text], output_format="json")
    spans = {(entity["type"], entity["text"]) for entity in result["entities"]}
    assert ("PER", "Orin Lindqvar") in spans and ("LOC", "Valdoria") in spans
    for entity in result["entities"]:
        assert text[entity["start"]:entity["end"]] == entity["text"]


ODD_INPUTS = ["", "   \t ", "Zürich 🙂 東京 مرحبا", " ".join(["Valdoria"] * 5000)]


def test_odd_inputs_give_valid_results(trained):
    config, _ = trained
    results = NERTask(config).predict(ODD_INPUTS, output_format="json")
    assert results[0]["tokens"] == [] and results[0]["entities"] == []
    assert results[1]["tokens"] == []
    assert len(results[2]["tokens"]) == len(results[2]["tags"]) > 0
    assert len(results[3]["tokens"]) == 5000
    for result in results:
        for entity in result["entities"]:
            assert result["text"][entity["start"]:entity["end"]] == entity["text"]


@pytest.fixture(scope="module")
def exported(trained):
    config, _ = trained
    manifest = NERTask(config).export()
    return config, manifest


def test_export_writes_and_verifies_every_format(exported):
    config, manifest = exported
    export_dir = latest_version_dir(config.export_dir())
    assert (export_dir / "model.keras").is_file()
    assert (export_dir / "saved_model.pb").is_file()
    assert (export_dir / "model_float32.tflite").is_file()
    assert max(manifest["verification"]["saved_model/serving_default"]["max_abs_diff"].values()) == 0
    assert manifest["verification"]["tflite/float32"]["max_abs_diff"]["tag_ids"] == 0
    assert manifest["task"] == "ner" and manifest["task_info"]["tag_names"][0] == "O"
    assert manifest["formats"] == ["saved_model", "keras", "tflite/float32"]
    # Exports are written to a temporary folder and renamed: nothing is left behind.
    assert not [path for path in export_dir.parent.iterdir() if "tmp" in path.name]


def test_saved_model_in_fresh_process_matches_keras_entities(exported):
    config, manifest = exported
    texts = ["Orin Lindqvar visited Valdoria on Sunday .", "Greyfield United beat Valdoria .", *ODD_INPUTS]
    run = NERTask(config).load_trained()
    # The SavedModel reads the first max_input_chars characters of each text (the long one is cut, and says so).
    limit = manifest["task_info"]["max_input_chars"]
    assert len(ODD_INPUTS[-1]) > limit
    expected = ner_task.tag_texts(run.model, run.preprocessor, run.config.model.train_tag_scheme, [text[:limit] for text in texts])
    script = (
        "import json, sys, tensorflow as tf, tensorflow_text\n"
        "loaded = tf.saved_model.load(sys.argv[1])\n"
        "texts = json.loads(sys.argv[2])\n"
        "out = loaded.signatures['serving_default'](texts=tf.constant(texts))\n"
        "rows = []\n"
        "for i in range(len(texts)):\n"
        "    n = int(out['num_tokens'][i])\n"
        "    tags = [t.decode() for t in out['tags'][i][:n].numpy()]\n"
        "    ents = [(t.decode(), int(s), int(e)) for t, s, e in zip(out['entity_types'][i].numpy(), out['entity_starts'][i].numpy(), out['entity_ends'][i].numpy()) if t]\n"
        "    rows.append({'tags': tags, 'entities': ents, 'truncated': bool(out['truncated'][i])})\n"
        "assert 'nlp_apps' not in sys.modules\n"
        "print(json.dumps(rows))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(latest_version_dir(config.export_dir())), json.dumps(texts)],
        capture_output=True, text=True, check=True,
    )
    rows = json.loads(result.stdout.strip().splitlines()[-1])
    for text, row, reference in zip(texts, rows, expected):
        assert row["tags"] == reference["tags"]
        assert row["truncated"] == (len(text) > limit)
        assert [tuple(entity) for entity in row["entities"]] == [(e["type"], e["start"], e["end"]) for e in reference["entities"]]


def test_tflite_is_builtin_only_with_fused_lstms_and_tags_equal_keras_at_any_length(exported):
    config, _ = exported
    run = NERTask(config).load_trained()
    model, preprocessor = run.model, run.preprocessor
    path = latest_version_dir(config.export_dir()) / "model_float32.tflite"
    census = tflite_op_census(path)
    assert census["flex_ops"] == 0 and census["custom_ops"] == 0
    # One fused op per BiLSTM direction; the only loops left are the CRF's
    # Viterbi recursion and its backtrace.
    assert census["fused_lstm_ops"] == 2
    assert census["while_ops"] == 2
    manifest = json.loads((latest_version_dir(config.export_dir()) / "manifest.json").read_text())
    assert manifest["op_census"]["tflite/float32"]["fused_lstm_ops"] == 2
    long_sentence = " ".join(["Orin Lindqvar visited Valdoria on Sunday ."] * 20)
    for text in ("Orin", "Orin Lindqvar visited Valdoria on Sunday .", long_sentence):
        inputs = sentence_features(preprocessor, text)
        expected = model.decode({key: tf.constant(inputs[key]) for key in FEATURE_KEYS}).numpy()
        outputs = run_tflite(path, inputs)
        assert outputs["tag_ids"].shape == (1, len(text.split()))
        np.testing.assert_array_equal(np.asarray(outputs["tag_ids"]), expected)
    assert expected[0, :4].tolist() != [0, 0, 0, 0]


def test_reused_tflite_interpreter_gives_fresh_results_after_resetting_its_variables(exported):
    # The fused LSTM ops keep their final states in variable tensors, which the
    # next invocation starts from: the manifest tells apps to reset them.
    from ai_edge_litert.interpreter import Interpreter

    from nlp_apps.export.exporter import STATEFUL_TFLITE_NOTE

    config, manifest = exported
    run = NERTask(config).load_trained()
    path = latest_version_dir(config.export_dir()) / "model_float32.tflite"
    assert tflite_op_census(path)["variable_tensors"] > 0
    assert STATEFUL_TFLITE_NOTE in manifest["notes"]
    texts = ["Orin Lindqvar visited Valdoria on Sunday .", "Valdoria", "Sunday Orin Lindqvar ."]
    fresh = [run_tflite(path, sentence_features(run.preprocessor, text))["tag_ids"] for text in texts]
    interpreter = Interpreter(model_path=str(path))
    runner = interpreter.get_signature_runner()
    for _ in range(2):
        for text, expected in zip(texts, fresh):
            outputs = runner(**sentence_features(run.preprocessor, text))
            interpreter.reset_all_variables()
            np.testing.assert_array_equal(outputs["tag_ids"], expected)


APP_TEXTS = [
    "Orin Lindqvar visited Valdoria on Sunday .",
    "Greyfield United's 3.5% rise on 1996-08-22, U.N. officials said...",
    "EU rejects\x00 German call\tto boycott\u00a0Valdoria lamb",
    "👩\u200d💻 İstanbul ÉTAT café 👍🏽",
    *ODD_INPUTS[:3],
    " ".join(["Orin Lindqvar visited Valdoria ."] * 60),
]


def test_reference_app_without_tensorflow_reproduces_the_saved_model(exported, run_example_app):
    # examples/ner_tflite_app.py is what an app does around the ids-in TFLite
    # model: tokenizer, word / character / casing ids and entity grouping in
    # plain Python, the model in ai_edge_litert, no TensorFlow imported.
    config, _ = exported
    run = NERTask(config).load_trained()
    expected = ner_task.tag_texts(run.model, run.preprocessor, run.config.model.train_tag_scheme, APP_TEXTS)
    rows = run_example_app("ner_tflite_app", "NERApp", latest_version_dir(config.export_dir()), APP_TEXTS)
    for text, row, reference in zip(APP_TEXTS, rows, expected):
        assert row["tokens"] == reference["tokens"], text
        assert row["tags"] == reference["tags"], text
        assert [tuple(entity) for entity in row["entities"]] == [
            (e["type"], e["text"], e["start"], e["end"]) for e in reference["entities"]
        ], text
    assert any(row["entities"] for row in rows)


def test_export_ships_the_preprocessing_files_an_app_needs(exported):
    config, manifest = exported
    for name in ("vocabulary.txt", "alphabet.json", "tags.json", "preprocessor.json"):
        assert (latest_version_dir(config.export_dir()) / "assets" / name).is_file(), name
        assert manifest["artifacts"][f"assets/{name}"] == f"assets/{name}"
    # Each TFLite file has a sidecar JSON: its signature, tag names, the assets, state.
    sidecar = json.loads((latest_version_dir(config.export_dir()) / "model_float32.tflite.json").read_text())
    assert manifest["artifacts"]["metadata/tflite/float32"] == "model_float32.tflite.json"
    inputs = sidecar["signatures"]["serving_default"]["inputs"]
    assert inputs["token_ids"] == {"dtype": "int32", "shape": [1, -1]}
    assert inputs["char_ids"] == {"dtype": "int32", "shape": [1, -1, -1]}
    assert set(sidecar["signatures"]["serving_default"]["outputs"]) == {"tag_ids", "emissions"}
    assert sidecar["task_info"]["tag_names"] == manifest["task_info"]["tag_names"]
    assert "assets/vocabulary.txt" in sidecar["assets"] and sidecar["quantization"] == "float32"
    assert sidecar["stateful"] is True and sidecar["versions"]["nlp_apps"]


def test_warmup_requests_cover_every_signature_and_replay(exported):
    config, manifest = exported
    export_dir = latest_version_dir(config.export_dir())
    assert manifest["artifacts"]["warmup_requests"] == "assets.extra/tf_serving_warmup_requests"
    requests = read_warmup_requests(export_dir / "assets.extra" / "tf_serving_warmup_requests")
    loaded = tf.saved_model.load(str(export_dir))
    assert {signature for signature, _ in requests} == set(loaded.signatures)
    for signature, inputs in requests:
        outputs = loaded.signatures[signature](**{name: tf.constant(value) for name, value in inputs.items()})
        assert outputs["tags"].shape[0] == len(inputs["texts"]) > 0


def test_model_card_matches_the_exported_model(exported):
    config, manifest = exported
    export_dir = latest_version_dir(config.export_dir())
    card = json.loads((export_dir / "model_card.json").read_text())
    assert (card["task"], card["model_name"], card["version"]) == ("ner", manifest["model_name"], manifest["version"])
    loaded = tf.saved_model.load(str(export_dir))
    function = loaded.signatures["serving_default"]
    described = card["signatures"]["serving_default"]
    [texts_spec] = function.structured_input_signature[1].values()
    assert described["inputs"] == {"texts": {"dtype": "string", "shape": [-1]}} and texts_spec.dtype == tf.string
    assert set(described["outputs"]) == set(function.structured_outputs)
    for name, spec in function.structured_outputs.items():
        assert described["outputs"][name]["dtype"] == spec.dtype.name
    assert card["task_info"]["tag_names"] == manifest["task_info"]["tag_names"]
    vocabulary_lines = (export_dir / "assets" / "vocabulary.txt").read_text(encoding="utf-8").splitlines()
    assert len(vocabulary_lines) in card["vocabulary_sizes"].values()
    assert card["training"]["epochs_run"] >= 1 and card["training_seconds"] > 0
    assert card["data"]["train"] and card["versions"]["tensorflow"] == tf.__version__


def test_next_export_is_version_2_and_a_failed_one_never_appears(exported, monkeypatch):
    config, manifest = exported
    base = config.export_dir()
    saved_model_only = load_config([PIPELINE], [*_overrides(config), "export.formats=[saved_model]"])
    second = NERTask(saved_model_only).export()
    assert second["version"] == manifest["version"] + 1 and second["export_dir"] == str(base / str(second["version"]))
    with pytest.raises(ValueError, match="already exists; a written version is never replaced"):
        NERTask(saved_model_only).export(version=manifest["version"])

    def broken_verification(*args, **kwargs):
        raise ExportVerificationError("outputs differ", path=str(args[0]))

    monkeypatch.setattr(base_task, "verify_saved_model", broken_verification)
    with pytest.raises(ExportVerificationError):
        NERTask(saved_model_only).export()
    assert existing_versions(base) == [manifest["version"], second["version"]]
    assert sorted(path.name for path in base.iterdir()) == [str(manifest["version"]), str(second["version"])]


def test_cli_errors_name_the_problem(tmp_path):
    untrained = subprocess.run(
        [sys.executable, "-m", "nlp_apps", "predict", "-c", PIPELINE, "--set", f"output_dir={tmp_path}", "--text", "x"],
        capture_output=True, text=True,
    )
    assert untrained.returncode == 2
    assert "no trained model" in untrained.stderr


def test_byte_to_char_offsets_handles_multibyte_text():
    text = "Zü 🙂 x"
    offsets = ner_task.byte_to_char_offsets(text)
    encoded = text.encode("utf-8")
    assert len(offsets) == len(encoded) + 1
    for byte_offset, char_offset in enumerate(offsets):
        if byte_offset == len(encoded) or (encoded[byte_offset] & 0xC0) != 0x80:
            assert len(encoded[:byte_offset].decode("utf-8")) == char_offset


@pytest.mark.slow
def test_resume_continues_from_the_last_epoch_and_applies_or_refuses_overrides(tmp_path, capsys):
    overrides = [f"output_dir={tmp_path / 'run'}", "train.verbose=0", "train.steps_per_epoch=2", "train.epochs=1"]
    first = NERTask(load_config([PIPELINE], overrides)).train()
    assert first["epochs_run"] == 1
    # A changed model or data field would silently not apply: refused, naming it and both values.
    with pytest.raises(ValueError, match=r"model.dropout: trained with 0.1, now 0.3.*Start a new run"):
        NERTask(load_config([PIPELINE], overrides + ["train.epochs=2", "model.dropout=0.3"])).train(resume=True)
    capsys.readouterr()
    resumed = NERTask(load_config([PIPELINE], overrides + ["train.epochs=2", "train.learning_rate=0.003"])).train(resume=True)
    assert "train.learning_rate 0.01 -> 0.003 applies from the next epoch" in capsys.readouterr().out
    # The summary and the CSV log cover the whole run.
    assert resumed["epochs_run"] == 2 and resumed["resumed_after_epoch"] == 1
    assert len(resumed["epoch_end_seconds"]) == 2 and resumed["train_seconds"] >= first["train_seconds"]
    epochs = [line.split(",")[0] for line in (tmp_path / "run" / "history.csv").read_text().splitlines()[1:]]
    assert epochs == ["0", "1"]
    with pytest.raises(ValueError, match=r"has trained 2 of train.epochs=2 epochs.*train.epochs=N"):
        NERTask(load_config([PIPELINE], overrides + ["train.epochs=2", "train.learning_rate=0.003"])).train(resume=True)


def test_resume_without_checkpoint_is_a_clear_error(tmp_path):
    config = load_config([PIPELINE], [f"output_dir={tmp_path / 'empty'}", "train.verbose=0"])
    with pytest.raises(ValueError, match="no checkpoint to resume from"):
        NERTask(config).train(resume=True)


def test_predict_uses_the_preprocessing_saved_with_the_run(trained):
    # A config given at predict time that differs from the training one (here:
    # no lowercasing, other character limit) must not change the predictions.
    config, _ = trained
    text = "Orin Lindqvar visited Valdoria on Sunday ."
    [expected] = NERTask(config).predict([text], output_format="json")
    changed = load_config([PIPELINE], [f"output_dir={config.run_dir()}", "text.lowercase=false", "text.max_chars_per_token=3"])
    [result] = NERTask(changed).predict([text], output_format="json")
    assert result == expected


def test_conll_output_is_offered_by_ner_only(trained, capsys):
    config, _ = trained
    NERTask(config).predict(["Orin Lindqvar visited Valdoria ."], output_format="conll")
    assert "Orin B-PER\nLindqvar I-PER" in capsys.readouterr().out
    from nlp_apps.tasks.sentiment.task import SentimentTask

    sentiment = SentimentTask(load_config(["pipelines/sentiment_sample.yaml"]))
    with pytest.raises(ValueError, match="--format conll: task 'sentiment' writes text, json"):
        sentiment.check_predict_request("conll", {})
