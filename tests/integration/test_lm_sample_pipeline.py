"""End to end on the bundled LM sample: train → evaluate → predict → export → reload elsewhere.

One training run (module fixture, about 15 s on 2 cores) serves most tests here; the
export tests (about 25 s more, fresh-process verification) are marked slow.
"""

import json

import numpy as np
import pytest
import tensorflow as tf

from nlp_apps import cli
from nlp_apps.config import load_config
from nlp_apps.export.versions import latest_version_dir
from nlp_apps.data.plain_text_reader import read_token_stream
from nlp_apps.data.sample_data import resolve_data_dir
from nlp_apps.export.exporter import run_tflite, tflite_op_census
from nlp_apps.tasks.language_model import task as language_model_task
from nlp_apps.tasks.language_model.task import LanguageModelTask
from nlp_apps.tasks.language_model.export import LanguageModelServing
from nlp_apps.tasks.language_model.inference import LanguageModelInference

PIPELINE = "pipelines/lm_sample.yaml"


def sample_config(root, *overrides):
    return load_config(
        [PIPELINE],
        [f"output_dir={root / 'run'}", f"export.output_dir={root / 'export'}", "train.verbose=0", *overrides],
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    config = sample_config(tmp_path_factory.mktemp("lm_sample"))
    summary = LanguageModelTask(config).train()
    return config, summary


def test_training_writes_run_directory_and_learns(trained):
    config, summary = trained
    run_dir = config.run_dir()
    for name in ("best.keras", "config.yaml", "history.csv", "assets/vocabulary.txt", "assets/tokenizer.json", "train_summary.json"):
        assert (run_dir / name).exists(), name
    # The sample's vocabulary has ~60 words; a trained model is far better than uniform.
    assert summary["best_valid_perplexity"] < 6
    assert [point["epoch"] for point in summary["valid_perplexity_curve"]] == list(range(1, summary["epochs_run"] + 1))


def test_evaluate_counts_every_test_token_including_eos(trained):
    config, _ = trained
    scores = LanguageModelTask(config).evaluate("test")
    stream = read_token_stream(f"{resolve_data_dir(config.data.data_dir)}/test.txt")
    # One stream: every token but the first is predicted once (the PTB convention).
    assert scores["num_tokens"] == len(stream) - 1
    assert scores["perplexity"] < 6
    assert json.loads((config.run_dir() / "eval_test.json").read_text())["perplexity"] == scores["perplexity"]


def test_word_stream_follows_read_token_stream(trained):
    config, _ = trained
    preprocessor = LanguageModelTask(config).load_trained().preprocessor
    path = f"{resolve_data_dir(config.data.data_dir)}/valid.txt"
    lines = language_model_task._read_lines(path)
    expected = [preprocessor.vocabulary.token_to_id(token) for token in read_token_stream(path)]
    assert preprocessor.encode_stream(lines).tolist() == expected


def test_predict_is_reproducible_and_respects_max_length(trained):
    config, _ = trained
    prompts = ["the old sailor", "", "zebra quantum"]
    first = LanguageModelTask(config).predict(prompts, max_length=6, seed=5)
    run = LanguageModelTask(config).load_trained()
    inference = LanguageModelInference(run.model, run.preprocessor)
    again = language_model_task.generate_texts(inference, prompts, max_length=6, seed=5)
    assert [result["continuation"] for result in first] == again
    assert all(len(result["continuation"].split()) <= 6 for result in first)
    greedy = language_model_task.generate_texts(inference, ["the old sailor"], temperature=0.0, max_length=10)
    assert greedy[0].split()[0] in {"carried", "cleaned", "fixed", "found", "lost", "opened", "painted", "sold", "watched"}


def test_cli_passes_generation_options(trained, capsys):
    config, _ = trained
    arguments = ["predict", "-c", PIPELINE, "--set", f"output_dir={config.run_dir()}", "--text", "the baker"]
    assert cli.main(arguments + ["--seed", "3", "--max-length", "4", "--top-k", "5", "--top-p", "0.9"]) == 0
    first = capsys.readouterr().out
    assert cli.main(arguments + ["--seed", "3", "--max-length", "4", "--top-k", "5", "--top-p", "0.9"]) == 0
    assert capsys.readouterr().out == first and first.startswith("the baker -> ")


@pytest.fixture(scope="module")
def exported(trained):
    config, _ = trained
    return config, LanguageModelTask(config).export()


@pytest.mark.slow
def test_export_writes_and_verifies_every_format(exported):
    config, manifest = exported
    export_dir = latest_version_dir(config.export_dir())
    assert (export_dir / "model.keras").is_file()
    assert (export_dir / "saved_model.pb").is_file()
    verification = manifest["verification"]
    assert verification["saved_model/score"]["signature"] == "score"
    assert max(verification["saved_model/score"]["max_abs_diff"].values()) <= 1e-4
    assert verification["saved_model/generate"]["max_abs_diff"] == {"text": 0.0, "token_ids": 0.0, "truncated": 0.0}
    assert not verification["saved_model/score"]["worker_imported"]["nlp_apps"]
    assert max(verification["tflite/float32"]["max_abs_diff"].values()) <= 1e-4
    assert manifest["task_info"]["tflite_state_inputs"] == ["state_0", "state_1"]


@pytest.mark.slow
def test_saved_model_score_equals_keras(exported):
    config, _ = exported
    run = LanguageModelTask(config).load_trained()
    model, preprocessor = run.model, run.preprocessor
    texts = ["the old sailor fixed a red boat", "", "zebra quantum"]
    expected = LanguageModelServing(model, preprocessor).score(tf.constant(texts))
    loaded = tf.saved_model.load(str(latest_version_dir(config.export_dir())))
    scores = loaded.signatures["score"](text=tf.constant(texts))
    np.testing.assert_allclose(scores["log_probability"].numpy(), expected["log_probability"].numpy(), atol=1e-4)
    np.testing.assert_allclose(scores["perplexity"].numpy(), expected["perplexity"].numpy(), rtol=1e-4)
    assert scores["num_tokens"].numpy().tolist() == [8, 1, 3]  # words + <eos>
    # A fluent sentence from the sample is far more likely than unknown words.
    assert scores["perplexity"].numpy()[0] < scores["perplexity"].numpy()[2]


@pytest.mark.slow
def test_tflite_step_equals_keras(exported):
    config, _ = exported
    model = LanguageModelTask(config).load_trained().model
    inputs = {"token_id": np.array([[5]], np.int32)}
    inputs.update({f"state_{index}": np.full((1, size), 0.1, np.float32) for index, size in enumerate(model.state_sizes)})
    outputs = run_tflite(latest_version_dir(config.export_dir()) / "step_float32.tflite", inputs)
    logits, states = model.call_with_state(inputs["token_id"], initial_state=[inputs[f"state_{i}"] for i in range(len(model.state_sizes))])
    np.testing.assert_allclose(outputs["logits"], logits.numpy()[:, 0], atol=1e-4)
    np.testing.assert_allclose(outputs["state_1"], states[1].numpy(), atol=1e-5)
    # Next-word suggestions: the k most likely ids, their probabilities and words.
    probabilities = tf.nn.softmax(logits[:, 0]).numpy()[0]
    best = np.argsort(-probabilities)[:5]
    assert outputs["top_ids"][0].tolist() == best.tolist()
    np.testing.assert_allclose(outputs["top_probabilities"][0], probabilities[best], atol=1e-5)
    vocabulary = LanguageModelTask(config).load_trained().preprocessor.token_strings()
    assert [word.decode() for word in outputs["top_words"][0]] == [vocabulary[index] for index in best]
    census = tflite_op_census(latest_version_dir(config.export_dir()) / "step_float32.tflite")
    # One step is a direct cell call: no loop, no Flex.
    assert census["while_ops"] == 0 and census["flex_ops"] == 0


@pytest.mark.slow
@pytest.mark.parametrize(
    "overrides",
    [
        ["text.tokenizer=char", "train.mode=sentence", "train.batch_size=16"],
        ["text.tokenizer=sentencepiece", "text.sentencepiece_vocabulary_size=80"],
    ],
    ids=["char_sentence", "sentencepiece_stream"],
)
def test_other_tokenizers_and_sentence_mode_train_and_evaluate(tmp_path, overrides):
    config = sample_config(tmp_path, "train.epochs=1", "train.steps_per_epoch=4", *overrides)
    summary = LanguageModelTask(config).train()
    assert summary["epochs_run"] == 1
    scores = LanguageModelTask(config).evaluate("dev")
    assert np.isfinite(scores["perplexity"]) and scores["perplexity"] < summary["vocabulary_size"]
    if config.text.tokenizer == "char":
        assert scores["bits_per_character"] == pytest.approx(np.log2(scores["perplexity"]))
    [result] = LanguageModelTask(config).predict(["the "], max_length=5, seed=1)
    assert isinstance(result["continuation"], str)


def test_single_file_corpus_is_split_into_contiguous_blocks(tmp_path):
    config = sample_config(tmp_path, "data.dev=", "data.test=", "data.dev_fraction=0.1", "data.test_fraction=0.05")
    lines = language_model_task.read_splits(config)
    all_lines = language_model_task._read_lines(f"{resolve_data_dir(config.data.data_dir)}/train.txt")
    assert (len(lines["train"]), len(lines["dev"]), len(lines["test"])) == (255, 30, 15)
    start = all_lines.index(lines["dev"][0])
    assert lines["dev"] + lines["test"] == all_lines[start : start + 45]
    assert language_model_task.read_splits(config) == lines
