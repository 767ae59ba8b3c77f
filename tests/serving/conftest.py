"""Exports of the four sample pipelines for the server tests: briefly trained (the API, not quality, is under test)."""

import pytest

from nlp_apps.config import load_config
from nlp_apps.tasks.registry import get_task

SAMPLES = {
    "ner_sample": "pipelines/ner_sample.yaml",
    "sentiment_sample": "pipelines/sentiment_sample.yaml",
    "translation_sample": "pipelines/translation_sample.yaml",
    "lm_sample": "pipelines/lm_sample.yaml",
}


def export_sample(root, name, extra=()):
    config = load_config(
        [SAMPLES[name]],
        [
            f"output_dir={root / 'runs' / name}", f"export.output_dir={root / 'models' / name}",
            "train.verbose=0", "train.epochs=2", "train.max_train_minutes=0", "export.formats=[saved_model]", "export.verify=false",
            *extra,
        ],
    )
    task = get_task(config)
    task.train()
    return task.export()


@pytest.fixture(scope="session")
def served_models(tmp_path_factory):
    """`(models folder, {name: manifest})` with NER and sentiment exported (the default suite's server tests)."""
    root = tmp_path_factory.mktemp("served")
    manifests = {name: export_sample(root, name) for name in ("ner_sample", "sentiment_sample")}
    return root / "models", manifests


@pytest.fixture(scope="session")
def generation_models(tmp_path_factory):
    """`(models folder, {name: manifest})` with translation and the language model exported (slow tests)."""
    root = tmp_path_factory.mktemp("served_generation")
    manifests = {name: export_sample(root, name) for name in ("translation_sample", "lm_sample")}
    return root / "models", manifests
