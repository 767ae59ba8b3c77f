"""Pretraining → encoder artifact → fine-tuning in a task, on the bundled sample text.

One short pretraining run (module fixture, ~15 s on 2 cores) serves every test here.
"""

import json
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from nlp_apps.cli import main
from nlp_apps.config import load_config
from nlp_apps.export.versions import latest_version_dir
from nlp_apps.encoders.artifact import CARD_FILE, ENCODER_FILE, EncoderArtifact
from nlp_apps.encoders.rnn_encoder import RNNEncoder
from nlp_apps.metrics.token_losses import masked_token_losses
from nlp_apps.pretraining.corpora import read_corpora
from nlp_apps.pretraining.model import EncoderLanguageModel
from nlp_apps.pretraining.task import PretrainTask, window_matrix
from nlp_apps.tasks.registry import get_task

PRETRAIN = "pipelines/pretrain_sample.yaml"
NER_PRETRAINED = "pipelines/ner_sample_pretrained.yaml"
SENTIMENT_PRETRAINED = "pipelines/sentiment_sample_pretrained.yaml"


@pytest.fixture(scope="module")
def artifact_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("pretrain_sample")
    config = load_config(
        [PRETRAIN],
        [f"output_dir={root / 'run'}", f"pretrain.artifact_dir={root / 'artifact'}", "train.verbose=0", "train.epochs=3"],
    )
    summary = PretrainTask(config).train()
    return root / "artifact", summary


def fine_tune_config(pipeline, artifact, tmp_path, *overrides):
    return load_config(
        [pipeline],
        [
            f"model.encoder.pretrained={artifact}",
            f"output_dir={tmp_path / 'run'}",
            f"export.output_dir={tmp_path / 'export'}",
            "train.verbose=0",
            *overrides,
        ],
    )


def build_fine_tuned(config):
    """The task, its preprocessor and the model initialised from the artifact, as `train` builds them."""
    task = get_task(config)
    task.load_artifact()
    train_data, _ = task.read_training_data()
    preprocessor = task.build_preprocessor(train_data)
    model = task.build_model(preprocessor)
    task.build_variables(model)
    task.initialize_encoder_weights(model, preprocessor, resume=False)
    return task, preprocessor, model


# ---------------------------------------------------------------------------- the artifact


def test_the_artifact_holds_encoder_vocabulary_and_card(artifact_dir):
    path, summary = artifact_dir
    card = json.loads((path / CARD_FILE).read_text())
    assert card["architecture"]["bidirectional"] is True
    assert [corpus["source"].rsplit("/", 1)[-1] for corpus in card["corpora"]] == ["train.txt", "train.csv", "train.conll"]
    assert all(corpus["train_tokens"] > 0 and corpus["held_out_tokens"] > 0 for corpus in card["corpora"])
    assert set(card["held_out"]["perplexity"]) == {"forward", "backward"}
    # Three epochs on the sample already beat a uniform guess over the vocabulary.
    assert max(card["held_out"]["perplexity"].values()) < card["text"]["vocabulary_size"] / 2
    assert card["training"]["words_per_second"] > 0 and card["versions"]["tensorflow"] == tf.__version__
    # The encoder loads with safe_mode: no code runs from the file.
    wrapper = keras.saving.load_model(path / ENCODER_FILE, compile=False, safe_mode=True)
    assert any(isinstance(layer, RNNEncoder) for layer in wrapper.layers)


def test_a_task_starts_from_the_artifacts_weights_and_vocabulary(artifact_dir, tmp_path):
    path, _ = artifact_dir
    artifact = EncoderArtifact.load(path)
    config = fine_tune_config(NER_PRETRAINED, path, tmp_path, "model.encoder.new_word_embeddings=false")
    _, preprocessor, model = build_fine_tuned(config)
    assert preprocessor.vocabulary == artifact.vocabulary
    assert preprocessor.lowercase == artifact.text_options["lowercase"]
    # The architecture came from the artifact (the NER config names none of it).
    assert config.model.encoder.units == artifact.encoder_config["units"]
    source = artifact.encoder.weights
    target = [w for w in model.encoder.weights if "mix" not in w.path]
    assert len(source) == len(target)
    for expected, actual in zip(source, target):
        np.testing.assert_array_equal(expected.numpy(), actual.numpy())


def test_new_word_embeddings_append_rows_after_the_artifacts(artifact_dir, tmp_path):
    path, _ = artifact_dir
    artifact = EncoderArtifact.load(path)
    config = fine_tune_config(NER_PRETRAINED, path, tmp_path, "data.data_dir=" + str(tmp_path), "data.train=train.conll",
                              "data.dev=train.conll", "data.test=train.conll")
    (tmp_path / "train.conll").write_text("Zorblax B-PER\nvisited O\nthe O\nQuuxville B-LOC\n\n", encoding="utf-8")
    _, preprocessor, model = build_fine_tuned(config)
    assert preprocessor.vocabulary[: len(artifact.vocabulary)] == artifact.vocabulary
    assert set(preprocessor.vocabulary[len(artifact.vocabulary):]) == {"zorblax", "quuxville"}
    embeddings = model.encoder.token_embedding.embeddings.numpy()
    np.testing.assert_array_equal(embeddings[: len(artifact.vocabulary)], artifact.encoder.token_embedding.embeddings.numpy())
    assert embeddings.shape[0] == len(artifact.vocabulary) + 2


def test_without_new_word_embeddings_unknown_task_words_map_to_unk(artifact_dir, tmp_path):
    path, _ = artifact_dir
    config = fine_tune_config(NER_PRETRAINED, path, tmp_path, "model.encoder.new_word_embeddings=false")
    _, preprocessor, _ = build_fine_tuned(config)
    ids = preprocessor.token_lookup(preprocessor.normalize_words(tf.constant(["zorblax", "the"]))).numpy()
    assert ids[0] == 1 and ids[1] > 1


def test_a_config_field_contradicting_the_artifact_names_field_and_value(artifact_dir, tmp_path):
    path, _ = artifact_dir
    config = fine_tune_config(NER_PRETRAINED, path, tmp_path, "model.encoder.units=64")
    with pytest.raises(ValueError, match=r"--set model.encoder.units=64: 'model.encoder.units' is 64 but the pretrained "
                                         rf"encoder {path} has 32"):
        get_task(config).load_artifact()
    config = fine_tune_config(NER_PRETRAINED, path, tmp_path, "text.lowercase=false")
    with pytest.raises(ValueError, match=r"'text.lowercase' is False but the pretrained encoder .* has True"):
        get_task(config).load_artifact()


def test_a_missing_artifact_file_is_named(artifact_dir, tmp_path):
    import shutil

    path, _ = artifact_dir
    broken = tmp_path / "broken"
    shutil.copytree(path, broken)
    (broken / "text" / "vocabulary.txt").unlink()
    with pytest.raises(ValueError, match=rf"{broken / 'text' / 'vocabulary.txt'} is missing"):
        EncoderArtifact.load(broken)
    with pytest.raises(ValueError, match="no encoder artifact folder at"):
        EncoderArtifact.load(tmp_path / "nowhere")


def test_a_sentiment_task_refuses_an_artifact_with_character_features(tmp_path, artifact_dir):
    path, _ = artifact_dir
    config = fine_tune_config(SENTIMENT_PRETRAINED, path, tmp_path)
    task = get_task(config)
    task.load_artifact()
    task.artifact.encoder_config["char_embedding_dim"] = 16
    with pytest.raises(ValueError, match="character or casing features, which the sentiment task does not compute"):
        task.build_preprocessor(task.read_training_data()[0])


# ---------------------------------------------------------------------------- recipes


def _one_step(model, task, preprocessor, epochs=1):
    inputs = task.prepare_training(preprocessor, *task.read_training_data())
    task.compile_model(model)
    model.fit(inputs.train_batches.take(2), epochs=epochs, verbose=0, callbacks=task.fine_tuning_callbacks(model))


def _snapshot(weights):
    return [np.array(weight.numpy()) for weight in weights]


def _changed(before, weights):
    return [not np.array_equal(old, weight.numpy()) for old, weight in zip(before, weights)]


def test_a_frozen_encoder_keeps_its_weights_while_head_and_mix_train(artifact_dir, tmp_path):
    path, _ = artifact_dir
    config = fine_tune_config(NER_PRETRAINED, path, tmp_path, "model.encoder.fine_tuning=frozen", "model.encoder.layer_lr_decay=1.0")
    task, preprocessor, model = build_fine_tuned(config)
    encoder = model.encoder
    frozen = [w for w in encoder.weights if "mix" not in w.path]
    mix = [encoder.mix_weights, encoder.mix_gamma]
    head = [w for w in model.trainable_weights if all(w is not e for e in encoder.weights)]
    before_frozen, before_mix, before_head = _snapshot(frozen), _snapshot(mix), _snapshot(head)
    _one_step(model, task, preprocessor)
    assert not any(_changed(before_frozen, frozen))
    assert all(_changed(before_mix, mix))
    assert all(_changed(before_head, head))


def test_gradual_unfreezing_trains_the_scheduled_groups_in_each_epoch(artifact_dir, tmp_path):
    path, _ = artifact_dir
    config = fine_tune_config(NER_PRETRAINED, path, tmp_path, "model.encoder.scalar_mix=false")
    task, preprocessor, model = build_fine_tuned(config)
    encoder = model.encoder
    rnn = list(encoder.rnn_stack.weights)
    embeddings = list(encoder.token_embedding.weights)
    states = []
    inputs = task.prepare_training(preprocessor, *task.read_training_data())
    task.compile_model(model)
    callback = task.fine_tuning_callbacks(model)[0]
    for epoch in range(3):
        before_rnn, before_embeddings = _snapshot(rnn), _snapshot(embeddings)
        model.fit(inputs.train_batches.take(2), initial_epoch=epoch, epochs=epoch + 1, verbose=0, callbacks=[callback])
        states.append((any(_changed(before_rnn, rnn)), any(_changed(before_embeddings, embeddings))))
    # Epoch 1: head only; epoch 2: + the BiLSTM (group 1); epoch 3: + the embeddings (group 2).
    assert states == [(False, False), (True, False), (True, True)]
    assert [trained for _, trained in callback.history] == [[0], [0, 1], [0, 1, 2]]


def test_discriminative_rates_give_each_group_its_rate(artifact_dir, tmp_path):
    path, _ = artifact_dir
    config = fine_tune_config(
        NER_PRETRAINED, path, tmp_path, "model.encoder.fine_tuning=full", "model.encoder.layer_lr_decay=0.5",
        "train.optimizer=sgd", "train.clipnorm=0", "train.learning_rate=0.1", "train.lr_schedule=constant",
        "train.lr_warmup_steps=0", "model.encoder.scalar_mix=false", "model.dropout=0", "model.encoder.embedding_dropout=0",
    )
    task, preprocessor, model = build_fine_tuned(config)
    optimizer = task.build_optimizer(model)
    model.compile(optimizer=optimizer)
    inputs = task.prepare_training(preprocessor, *task.read_training_data())
    x, y = next(iter(inputs.train_batches))
    variables = model.trainable_variables
    with tf.GradientTape() as tape:
        loss = model.compute_loss(x, y, model(x, training=True))
    gradients = tape.gradient(loss, variables)
    before = _snapshot(variables)
    optimizer.apply_gradients(zip(gradients, variables))
    groups = optimizer.variable_groups
    for variable, old, gradient in zip(variables, before, gradients):
        gradient = tf.convert_to_tensor(gradient).numpy()
        if not np.any(gradient):
            continue
        step = old - variable.numpy()
        rate = 0.1 * 0.5 ** groups.get(variable.path, 0)
        np.testing.assert_allclose(step, rate * gradient, rtol=1e-4, atol=1e-7, err_msg=variable.path)
    assert sorted(set(groups.values())) == [1, 2]


# ---------------------------------------------------------------------------- the LM objective


def test_bidirectional_loss_is_forward_plus_backward_computed_apart():
    encoder = RNNEncoder(12, 6, units=5, bidirectional=True, seed=3)
    model = EncoderLanguageModel(encoder)
    stream = np.arange(2, 12, dtype=np.int32).repeat(3)
    windows = window_matrix(stream, 6)
    token_ids = windows[:, 1:-1]
    targets = {"forward": windows[:, 2:], "backward": windows[:, :-2]}
    model.build((None, None))
    losses = model.direction_losses({"token_ids": token_ids}, targets)
    total = sum(float(value) for value, _ in losses.values())

    outputs = encoder({"token_ids": token_ids}).numpy()
    weights = encoder.token_embedding.embeddings.numpy()
    projection = model.projection

    def direction_loss(half, labels):
        logits = projection(half).numpy() @ weights.T + model.output_bias.numpy()
        token_losses, mask = masked_token_losses(labels, logits)
        return float(np.sum(token_losses) / np.sum(mask))

    forward = direction_loss(outputs[..., :5], targets["forward"])
    backward = direction_loss(outputs[..., 5:], targets["backward"])
    assert total == pytest.approx(forward + backward, rel=1e-5)
    # Neither direction sees the word it predicts: the forward half at t is blind to later words,
    # the backward half at t to earlier ones.
    changed = token_ids.copy()
    changed[:, -1] = 2
    other = encoder({"token_ids": changed}).numpy()
    np.testing.assert_allclose(other[:, :-1, :5], outputs[:, :-1, :5], atol=1e-6)
    changed = token_ids.copy()
    changed[:, 0] = 2
    other = encoder({"token_ids": changed}).numpy()
    np.testing.assert_allclose(other[:, 1:, 5:], outputs[:, 1:, 5:], atol=1e-6)


def test_a_stacked_bidirectional_language_model_is_refused():
    with pytest.raises(ValueError, match="model.encoder.num_layers: a bidirectional language model needs num_layers: 1"):
        EncoderLanguageModel(RNNEncoder(10, 4, units=4, num_layers=2, bidirectional=True))


def test_windows_carry_one_word_of_context_each_side():
    windows = window_matrix(np.arange(10), 3)
    np.testing.assert_array_equal(windows, [[0, 1, 2, 3, 4], [3, 4, 5, 6, 7]])
    with pytest.raises(ValueError, match="fewer than one window"):
        window_matrix(np.arange(3), 3)


# ---------------------------------------------------------------------------- corpora


def test_corpora_refuse_test_splits_and_name_the_entry(tmp_path):
    with pytest.raises(ValueError, match=r"pretrain.corpora\[1\].path: .*eng.testb looks like a test split"):
        read_corpora([{"path": "sample:lm_sample/train.txt"}, {"path": "conll2003/eng.testb"}], "", 0.1, 1)
    with pytest.raises(ValueError, match=r"pretrain.corpora\[0\].split: 'test' is a test split"):
        read_corpora([{"hub_name": "imdb", "split": "test"}], "", 0.1, 1)
    with pytest.raises(ValueError, match=r"unknown config key 'pretrain.corpora\[0\].colum'"):
        read_corpora([{"path": "a.txt", "colum": 1}], "", 0.1, 1)


def test_corpora_read_text_csv_jsonl_and_conll_without_labels(tmp_path):
    (tmp_path / "a.txt").write_text("Hello world, again.\n\nsecond line\n", encoding="utf-8")
    (tmp_path / "b.csv").write_text('text,label\n"A review<br />with markup",pos\n"another one",neg\n', encoding="utf-8")
    (tmp_path / "c.jsonl").write_text('{"body": "json text here"}\n{"body": "more json"}\n', encoding="utf-8")
    (tmp_path / "d.conll").write_text("-DOCSTART- O\n\nEU B-ORG\nrejects O\n\nPeter B-PER\n", encoding="utf-8")
    corpora = read_corpora(
        [{"path": "a.txt"}, {"path": "b.csv"}, {"path": "c.jsonl", "column": "body"}, {"path": "d.conll"}],
        str(tmp_path), 0.4, 1,
    )
    documents = {c.name.rsplit("/", 1)[-1]: sorted(c.train + c.held_out) for c in corpora}
    assert documents["a.txt"] == [["Hello", "world", ",", "again", "."], ["second", "line"]]
    assert documents["b.csv"] == [["A", "review", "with", "markup"], ["another", "one"]]
    assert documents["c.jsonl"] == [["json", "text", "here"], ["more", "json"]]
    assert documents["d.conll"] == [["EU", "rejects"], ["Peter"]]
    with pytest.raises(ValueError, match=r"b.csv: no column 'body' \(column\)"):
        read_corpora([{"path": "b.csv", "column": "body"}], str(tmp_path), 0.4, 1)


# ---------------------------------------------------------------------------- end to end


def test_a_fine_tuned_model_trains_exports_and_its_saved_model_equals_keras(artifact_dir, tmp_path):
    import shutil

    path, _ = artifact_dir
    copy = tmp_path / "artifact"
    shutil.copytree(path, copy)
    config = fine_tune_config(NER_PRETRAINED, copy, tmp_path, "train.epochs=4", "model.encoder.fine_tuning=full")
    task = get_task(config)
    summary = task.train()
    assert summary["best_dev_f1"] > 60 and len(summary["epoch_end_seconds"]) == 4
    manifest = task.export()
    assert {"saved_model/serving_default", "tflite/float32"} <= set(manifest["verification"])
    for name, check in manifest["verification"].items():
        assert max(check["max_abs_diff"].values()) <= check["atol"], name
    # The exports are self-contained: they run without the artifact, and the SavedModel on raw strings equals Keras.
    shutil.rmtree(copy)
    text = "Greyfield United beat Oslo City in Paris ."
    expected = task.predict([text], output_format="json")[0]
    loaded = tf.saved_model.load(str(latest_version_dir(tmp_path / "export")))
    result = loaded.signatures["serving_default"](texts=tf.constant([text]))
    served = [t.decode() for t in result["entity_texts"].numpy()[0] if t]
    assert served == [entity["text"] for entity in expected["entities"]]


def test_cli_pretrain_continues_from_an_artifact(artifact_dir, tmp_path, capsys):
    path, _ = artifact_dir
    code = main([
        "pretrain", "-c", PRETRAIN, "--from", str(path), "--set", f"output_dir={tmp_path / 'run'}",
        "--set", f"pretrain.artifact_dir={tmp_path / 'continued'}", "--set", "train.epochs=1", "--set", "train.verbose=0",
    ])
    assert code == 0
    card = json.loads((tmp_path / "continued" / CARD_FILE).read_text())
    assert card["continued_from"] == str(path)
    assert EncoderArtifact.load(tmp_path / "continued").vocabulary == EncoderArtifact.load(path).vocabulary


def test_cli_pretrain_refuses_a_task_pipeline(capsys):
    assert main(["pretrain", "-c", "pipelines/ner_sample.yaml"]) == 2
    assert "is a 'ner' pipeline; give a pretrain_*.yaml" in capsys.readouterr().err


def test_pretraining_refuses_data_splits():
    config = load_config([PRETRAIN], ["data.test=test.txt"])
    with pytest.raises(ValueError, match="data.test: pretraining reads only the sources in pretrain.corpora"):
        PretrainTask(config)


def test_evaluate_reports_held_out_perplexity_per_direction(artifact_dir):
    path, summary = artifact_dir
    config = load_config([PRETRAIN], [f"output_dir={path.parent / 'run'}", "train.verbose=0"])
    scores = PretrainTask(config).evaluate("dev")
    for direction in ("forward", "backward"):
        assert scores[f"{direction}_perplexity"] == pytest.approx(summary["held_out_perplexity"][direction], rel=1e-3)
    assert math.isfinite(scores["forward_perplexity"])


# ---------------------------------------------------------------------------- language modeling and translation


@pytest.fixture(scope="module")
def forward_artifact_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("pretrain_forward")
    config = load_config(
        [PRETRAIN],
        [f"output_dir={root / 'run'}", f"pretrain.artifact_dir={root / 'artifact'}", "train.verbose=0", "train.epochs=2",
         "pretrain.direction=forward", "model.encoder.units=64"],
    )
    PretrainTask(config).train()
    return root / "artifact"


def test_a_language_model_starts_from_a_forward_artifact_and_exports(forward_artifact_dir, tmp_path):
    artifact = EncoderArtifact.load(forward_artifact_dir)
    assert artifact.card["objective"] == "forward language model"
    config = fine_tune_config("pipelines/lm_sample.yaml", forward_artifact_dir, tmp_path, "train.epochs=2")
    task = get_task(config)
    summary = task.train()
    run = task.load_trained()
    vocabulary = run.preprocessor.vocabulary.tokens
    # The artifact's words keep their ids; <eos> is a new row after them.
    assert vocabulary[: len(artifact.vocabulary)] == artifact.vocabulary and vocabulary[len(artifact.vocabulary)] == "<eos>"
    assert run.preprocessor.eos_id == len(artifact.vocabulary) and run.preprocessor.lowercase
    assert summary["best_valid_perplexity"] < len(vocabulary)
    manifest = task.export()
    for name, check in manifest["verification"].items():
        assert max(check["max_abs_diff"].values()) <= check["atol"], name


def test_a_language_model_refuses_a_bidirectional_artifact(artifact_dir, tmp_path):
    path, _ = artifact_dir
    config = fine_tune_config("pipelines/lm_sample.yaml", path, tmp_path, "model.encoder.units=32")
    with pytest.raises(ValueError, match=r"'model.encoder.bidirectional' is False but the pretrained encoder .* has True"):
        get_task(config).load_artifact()


def test_translation_refuses_a_word_artifact(artifact_dir, tmp_path):
    path, _ = artifact_dir
    config = fine_tune_config("pipelines/translation_sample.yaml", path, tmp_path)
    with pytest.raises(ValueError, match="encodes word units; task 'translation' needs a sentencepiece encoder"):
        get_task(config).load_artifact()


def test_gradual_unfreezing_resumes_at_the_right_stage_and_runs_in_mixed_precision(artifact_dir, tmp_path, capsys):
    path, _ = artifact_dir
    config = fine_tune_config(NER_PRETRAINED, path, tmp_path, "train.epochs=1")
    get_task(config).train()
    capsys.readouterr()
    resumed = fine_tune_config(NER_PRETRAINED, path, tmp_path, "train.epochs=3")
    summary = get_task(resumed).train(resume=True)
    log = capsys.readouterr().out
    # Epochs 2 and 3 of the schedule, not a restart at epoch 1.
    assert "epoch 2 trains layer groups [0, 1]" in log and "epoch 3 trains layer groups [0, 1, 2]" in log
    assert "epoch 1 trains" not in log and summary["epochs_run"] == 3 and summary["resumed_after_epoch"] == 1
    mixed = fine_tune_config(NER_PRETRAINED, path, tmp_path / "mixed", "train.epochs=2", "train.mixed_precision=true")
    try:
        summary = get_task(mixed).train()
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert summary["epochs_run"] == 2 and "epoch 2 trains layer groups [0, 1]" in capsys.readouterr().out


def test_a_translation_source_encoder_starts_from_a_sentencepiece_artifact(tmp_path):
    pretrain = load_config(
        [PRETRAIN],
        [
            f"output_dir={tmp_path / 'pretrain'}", f"pretrain.artifact_dir={tmp_path / 'artifact'}", "train.verbose=0",
            "train.epochs=1", "text.tokenizer=sentencepiece", "text.sentencepiece_vocabulary_size=300",
            "pretrain.corpora=[{path: 'sample:translation_sample/train.en', format: text}, {path: 'sample:lm_sample/train.txt'}]",
            "model.encoder.embedding_dim=48", "model.encoder.units=64",
        ],
    )
    PretrainTask(pretrain).train()
    artifact = EncoderArtifact.load(tmp_path / "artifact")
    assert artifact.sentencepiece_model is not None and artifact.vocabulary is None
    assert artifact.card["text"]["unit"] == "pieces"
    config = fine_tune_config("pipelines/translation_sample.yaml", tmp_path / "artifact", tmp_path, "text.joint_vocabulary=false")
    task, preprocessor, model = build_fine_tuned(config)
    assert preprocessor.source_model == artifact.sentencepiece_model and not preprocessor.joint
    for expected, actual in zip(artifact.encoder.weights, model.encoder.weights):
        np.testing.assert_array_equal(expected.numpy(), actual.numpy())
    # A word-level task refuses a SentencePiece artifact, and translation a word-level one.
    with pytest.raises(ValueError, match="encodes sentencepiece units; task 'ner' needs a word encoder"):
        get_task(fine_tune_config(NER_PRETRAINED, tmp_path / "artifact", tmp_path)).load_artifact()
    joint = fine_tune_config("pipelines/translation_sample.yaml", tmp_path / "artifact", tmp_path)
    with pytest.raises(ValueError, match="'text.joint_vocabulary' is true, but with model.encoder.pretrained"):
        task = get_task(joint)
        task.load_artifact()
        task.build_preprocessor(task.read_training_data()[0])


def test_adamw_does_not_decay_a_frozen_group(artifact_dir, tmp_path):
    path, _ = artifact_dir
    config = fine_tune_config(NER_PRETRAINED, path, tmp_path, "train.optimizer=adamw", "model.encoder.scalar_mix=false")
    task, preprocessor, model = build_fine_tuned(config)
    encoder_weights = list(model.encoder.weights)
    before = _snapshot(encoder_weights)
    _one_step(model, task, preprocessor)
    assert model.optimizer.weight_decay  # AdamW's default decay is on
    assert not any(_changed(before, encoder_weights))


def test_hub_corpora_read_the_named_split_and_column(monkeypatch):
    import datasets

    calls = []

    def fake_load_dataset(name, config=None, split=None):
        calls.append((name, config, split))
        return datasets.Dataset.from_dict({"text": ["A hub review .", "Another one"], "label": [0, 1]})

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    (corpus,) = read_corpora([{"hub_name": "stanfordnlp/imdb", "split": "unsupervised"}], "", 0.4, 1)
    assert calls == [("stanfordnlp/imdb", None, "unsupervised")]
    assert corpus.name == "hub:stanfordnlp/imdb[unsupervised]"
    assert sorted(corpus.train + corpus.held_out) == [["A", "hub", "review", "."], ["Another", "one"]]
