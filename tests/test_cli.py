"""Command line: subcommands exist and user errors are one clear line."""

import subprocess
import sys

import yaml

from nlp_apps.cli import build_parser, main


def test_help_lists_subcommands():
    result = subprocess.run([sys.executable, "-m", "nlp_apps", "--help"], capture_output=True, text=True, check=True)
    for command in ("train", "evaluate", "predict", "export", "tasks"):
        assert command in result.stdout


def test_translation_without_data_names_the_missing_field(tmp_path, capsys):
    path = tmp_path / "translation.yaml"
    path.write_text(yaml.safe_dump({"task": "translation", "data": {"format": "parallel", "train": "train"}}))
    assert main(["train", "-c", str(path), "--set", f"output_dir={tmp_path / 'run'}"]) == 2
    assert "data.source_language: required for translation" in capsys.readouterr().err


def test_option_of_another_task_is_refused(tmp_path, capsys):
    path = tmp_path / "ner.yaml"
    path.write_text(yaml.safe_dump({"task": "ner"}))
    assert main(["predict", "-c", str(path), "--text", "x", "--plot-attention", str(tmp_path)]) == 2
    assert "--plot-attention: task 'ner' does not support this option" in capsys.readouterr().err


def test_unknown_task_and_unknown_key_are_errors(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"task": "summarisation"}))
    assert main(["train", "-c", str(path)]) == 2
    assert "unknown task 'summarisation'" in capsys.readouterr().err
    assert main(["train", "-c", str(path), "--set", "train.nope=1"]) == 2
    assert "unknown config key 'train.nope'" in capsys.readouterr().err


def test_parser_collects_repeated_configs_and_overrides():
    arguments = build_parser().parse_args(["train", "-c", "a.yaml", "-c", "b.yaml", "--set", "x=1", "--set", "y=2", "--resume"])
    assert arguments.config == ["a.yaml", "b.yaml"]
    assert arguments.overrides == ["x=1", "y=2"]
    assert arguments.resume


def test_commands_start_without_tensorflow_native_start_up_lines():
    # TensorFlow's C++ libraries print absl / oneDNN / CUDA-probe lines while
    # loading; the command line starts TensorFlow with them sent to /dev/null.
    result = subprocess.run([sys.executable, "-m", "nlp_apps", "tasks"], capture_output=True, text=True, check=True)
    assert "ner: available" in result.stdout
    for noise in ("absl::InitializeLog", "cuInit", "cudart_stub", "port.cc"):
        assert noise not in result.stderr, result.stderr
