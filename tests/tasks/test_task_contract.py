"""The Task contract: registry, per-task config validation, predict capabilities, preprocessor save/load."""

import glob

import pytest
import tensorflow as tf

from nlp_apps.cli import main
from nlp_apps.config import load_config
from nlp_apps.tasks.base import Task
from nlp_apps.tasks.language_model.preprocessor import LanguageModelPreprocessor
from nlp_apps.tasks.ner.preprocessor import NERPreprocessor
from nlp_apps.tasks.registry import TASK_CLASSES, get_task, get_task_class
from nlp_apps.tasks.sentiment.preprocessor import SentimentPreprocessor
from nlp_apps.tasks.translation.preprocessor import TranslationPreprocessor

SENTENCES = ["the old sailor fixed a red boat", "a small dog sees the big house", "the sailor sees a boat"]


@pytest.mark.parametrize("path", sorted(glob.glob("pipelines/*.yaml")))
def test_every_pipeline_config_is_valid_for_its_task(path):
    config = load_config([path])
    task = get_task(config)
    assert isinstance(task, Task) and task.name == config.task


@pytest.mark.parametrize(
    "pipeline,override,field,task,owners",
    [
        ("ner_sample", "model.beam_size=3", "model.beam_size", "ner", "translation"),
        ("ner_sample", "train.bptt_length=20", "train.bptt_length", "ner", "language_model"),
        ("sentiment_sample", "model.use_crf=false", "model.use_crf", "sentiment", "ner"),
        ("lm_sample", "data.source_language=en", "data.source_language", "language_model", "translation"),
        ("translation_sample", "text.max_sentences=3", "text.max_sentences", "translation", "sentiment"),
        ("translation_sample", "model.decoder.units=8", "model.decoder", "translation", None),
    ],
)
def test_a_field_the_task_does_not_read_is_an_error_naming_field_and_task(pipeline, override, field, task, owners):
    config = load_config([f"pipelines/{pipeline}.yaml"], [override])
    if owners is None:
        get_task(config)  # the translation decoder is a translation field: accepted
        return
    with pytest.raises(ValueError) as error:
        get_task(config)
    message = str(error.value)
    assert f"--set {override}" in message and f"'{field}' is not used by task '{task}'" in message
    assert f"read only by {owners}" in message


def test_a_field_in_a_config_file_is_reported_with_the_file(tmp_path):
    path = tmp_path / "extra.yaml"
    path.write_text("model:\n  hierarchical: false\n")
    config = load_config(["pipelines/ner_sample.yaml", path])
    with pytest.raises(ValueError, match=rf"{path}: 'model.hierarchical' is not used by task 'ner'"):
        get_task(config)


def test_unknown_task_names_the_choices():
    with pytest.raises(ValueError, match="task: unknown task 'pos'; available tasks: language_model, ner, pretrain, sentiment, translation"):
        get_task_class("pos")


def test_predict_options_and_formats_come_from_the_task():
    assert get_task_class("ner").output_formats == ("text", "json", "conll")
    assert "conll" not in get_task_class("translation").output_formats
    assert "beam_size" in get_task_class("translation").predict_options
    assert "beam_size" not in get_task_class("language_model").predict_options
    task = get_task(load_config(["pipelines/lm_sample.yaml"]))
    with pytest.raises(ValueError, match="--beam-size: task 'language_model' does not support this option"):
        task.check_predict_request("text", {"beam_size": 2})
    with pytest.raises(ValueError, match="--format conll: task 'language_model' writes text, json"):
        task.check_predict_request("conll", {})


def test_cli_refuses_a_format_the_task_does_not_write(capsys):
    assert main(["predict", "-c", "pipelines/sentiment_sample.yaml", "--text", "x", "--format", "conll"]) == 2
    assert "--format conll: task 'sentiment' writes text, json" in capsys.readouterr().err


def test_cli_lists_what_each_task_supports(capsys):
    assert main(["tasks"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(TASK_CLASSES)
    assert any(line.startswith("ner: available (predict --format text|json|conll") for line in lines)
    assert any(line.startswith("sentiment:") and "--explain" in line for line in lines)


def test_ner_preprocessor_saves_vocabulary_tags_and_options(assert_preprocessor_round_trip):
    tokens = [["Orin", "Lindqvar", "met", "Bela", "in", "Norvale", "1984"], ["Zürich", "is", "big"]]
    tags = [["S-PER", "E-PER", "O", "S-PER", "O", "S-LOC", "O"], ["S-LOC", "O", "O"]]
    preprocessor = NERPreprocessor.from_training_data(tokens, tags, lowercase=True, max_chars_per_token=4)
    assert preprocessor.tag_names == ["O", "E-PER", "S-LOC", "S-PER"]
    loaded = assert_preprocessor_round_trip(
        preprocessor, lambda p: {key: value for key, value in p(tf.constant(["Orin met ZÜRICH 2024", ""])).items()}
    )
    assert (loaded.lowercase, loaded.max_chars_per_token, loaded.tag_names) == (True, 4, preprocessor.tag_names)


def test_sentiment_preprocessor_saves_vocabulary_labels_and_truncation(assert_preprocessor_round_trip):
    texts = ["A wonderful film. I loved it!", "Dull and long. A waste of time.", "Fine."]
    preprocessor = SentimentPreprocessor.from_training_data(
        texts, ["pos", "neg", "pos"], lowercase=False, max_sentences=1, max_words_per_sentence=3
    )
    assert preprocessor.label_names == ["neg", "pos"]
    loaded = assert_preprocessor_round_trip(preprocessor, lambda p: p(tf.constant(texts + [""]))["token_ids"])
    assert (loaded.lowercase, loaded.max_sentences, loaded.max_words_per_sentence) == (False, 1, 3)
    assert loaded.label_names == ["neg", "pos"]


def test_sentiment_preprocessor_needs_two_labels():
    with pytest.raises(ValueError, match="data.label: the training data has only the label"):
        SentimentPreprocessor.from_training_data(["Good.", "Fine."], ["pos", "pos"], label_field="data.label")


def test_translation_and_language_model_preprocessors_round_trip(assert_preprocessor_round_trip):
    translation = TranslationPreprocessor.from_training_data(SENTENCES * 20, SENTENCES[::-1] * 20, 40, max_length=7)
    loaded = assert_preprocessor_round_trip(translation, lambda p: p.encode_source(tf.constant(SENTENCES)))
    assert loaded.max_length == 7
    for level in ("word", "char"):
        language_model = LanguageModelPreprocessor.from_training_data(level, SENTENCES)
        assert_preprocessor_round_trip(language_model, lambda p: p.tokenize(tf.constant(SENTENCES + ["zebra"])))


def test_a_run_without_saved_options_is_a_clear_error(tmp_path):
    (tmp_path / "vocabulary.txt").write_text("[PAD]\n[UNK]\nthe\n")
    with pytest.raises(ValueError, match="preprocessor.json: missing; the run was not trained by this version"):
        NERPreprocessor.load(tmp_path)


@pytest.mark.parametrize(
    "override,message",
    [
        ("train.batch_size=0", "'train.batch_size' must be an integer >= 1, got 0"),
        ("train.epochs=0", "'train.epochs' must be an integer >= 1, got 0"),
        ("train.learning_rate=-0.01", "'train.learning_rate' must be a number > 0, got -0.01"),
        ("model.dropout=1.5", "'model.dropout' must be a probability in \\[0, 1\\), got 1.5"),
        ("model.encoder.embedding_dropout=1.0", "'model.encoder.embedding_dropout' must be a probability"),
    ],
)
def test_values_no_run_can_use_are_errors_naming_the_field_before_any_work(override, message):
    config = load_config(["pipelines/ner_sample.yaml"], [override])
    with pytest.raises(ValueError, match=f"--set {override.replace('.', '[.]')}: {message}"):
        get_task(config)
