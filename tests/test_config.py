"""Config loading: merge order, overrides, and errors that name the key and file."""

import pytest
import yaml

from nlp_apps.config import EncoderConfig, PipelineConfig, load_config, write_config


def write_yaml(path, content):
    path.write_text(yaml.safe_dump(content))
    return path


def test_files_merge_left_to_right_and_overrides_win(tmp_path):
    base = write_yaml(tmp_path / "base.yaml", {"task": "ner", "train": {"epochs": 3, "batch_size": 16}, "model": {"encoder": {"units": 64}}})
    update = write_yaml(tmp_path / "update.yaml", {"train": {"epochs": 5}, "model": {"encoder": {"cell_type": "gru"}}})
    config = load_config([base, update], ["train.batch_size=8", "model.encoder.bidirectional=false"])
    assert config.task == "ner"
    assert config.train.epochs == 5
    assert config.train.batch_size == 8
    assert config.model.encoder.units == 64
    assert config.model.encoder.cell_type == "gru"
    assert config.model.encoder.bidirectional is False
    assert isinstance(config.model.encoder, EncoderConfig)


def test_unknown_key_names_key_and_file(tmp_path):
    path = write_yaml(tmp_path / "typo.yaml", {"task": "ner", "model": {"encoder": {"unitz": 3}}})
    with pytest.raises(ValueError, match=r"typo\.yaml.*unknown config key 'model\.encoder\.unitz'"):
        load_config([path])


def test_unknown_override_key_names_the_override(tmp_path):
    path = write_yaml(tmp_path / "ok.yaml", {"task": "ner"})
    with pytest.raises(ValueError, match=r"--set train\.epoch=3.*unknown config key 'train\.epoch'"):
        load_config([path], ["train.epoch=3"])


def test_wrong_type_names_key(tmp_path):
    path = write_yaml(tmp_path / "bad.yaml", {"train": {"epochs": "ten"}})
    with pytest.raises(ValueError, match=r"bad\.yaml.*'train\.epochs' must be an integer"):
        load_config([path])


def test_section_must_be_mapping(tmp_path):
    path = write_yaml(tmp_path / "bad.yaml", {"train": 3})
    with pytest.raises(ValueError, match="'train' must be a mapping"):
        load_config([path])


def test_malformed_override_and_missing_file(tmp_path):
    path = write_yaml(tmp_path / "ok.yaml", {"task": "ner"})
    with pytest.raises(ValueError, match="expected key.path=value"):
        load_config([path], ["train.epochs"])
    with pytest.raises(ValueError, match="config file not found"):
        load_config([tmp_path / "missing.yaml"])


def test_invalid_yaml_names_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("train: [unclosed\n")
    with pytest.raises(ValueError, match=r"broken\.yaml: not valid YAML"):
        load_config([path])


def test_resolved_config_round_trips(tmp_path):
    config = load_config([write_yaml(tmp_path / "a.yaml", {"name": "x", "task": "ner"})], ["model.encoder.num_layers=3", "train.learning_rate=0.5"])
    write_config(config, tmp_path / "resolved.yaml")
    reloaded = load_config([tmp_path / "resolved.yaml"])
    assert reloaded == config
    assert reloaded != PipelineConfig()


def test_encoder_weight_drop_is_read_and_typed(tmp_path):
    path = write_yaml(tmp_path / "lm.yaml", {"task": "language_model", "model": {"encoder": {"weight_drop": 0.25}}})
    assert load_config([path]).model.encoder.weight_drop == 0.25
    assert EncoderConfig().weight_drop == 0.0
    assert load_config([path], ["model.encoder.weight_drop=0"]).model.encoder.weight_drop == 0.0
    with pytest.raises(ValueError, match=r"model\.encoder\.weight_drop"):
        load_config([path], ["model.encoder.weight_drop=high"])
