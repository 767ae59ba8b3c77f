"""What `--resume` may change: overrides that apply to a resumed run, the rest refused by name.

A resumed run continues the run as it was configured: its data, model and
preprocessing are in the checkpoint. Giving `--resume` a changed field used
to be silently ignored (the checkpoint's learning rate won); now a field
either applies from the next epoch (`RESUMABLE_FIELDS`) or is an error
naming it, with both values.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from nlp_apps.config import PipelineConfig
from nlp_apps.export.atomic import atomic_output_file
from nlp_apps.training.run_directory import RESOLVED_CONFIG_NAME

# Fields a resumed run takes from the new config (prefixes end with ".").
RESUMABLE_FIELDS = (
    "train.epochs",
    "train.max_train_minutes",
    "train.learning_rate",
    "train.early_stopping_patience",
    "train.verbose",
    "train.distribution_strategy",
    "train.logical_cpu_devices",
    "data.data_dir",
    "export.",
)


def _flatten(mapping: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in mapping.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{path}."))
        else:
            flat[path] = value
    return flat


def _resumable(path: str) -> bool:
    return any(path == field or (field.endswith(".") and path.startswith(field)) for field in RESUMABLE_FIELDS)


def check_resume_overrides(config: PipelineConfig) -> dict:
    """`{field: (trained value, new value)}` of the resumable fields that changed; raises for any other change.

    Compares with the run's own `config.yaml` (before it is rewritten).
    Fields only one of the two configs knows are not compared.
    """
    path = config.run_dir() / RESOLVED_CONFIG_NAME
    if not path.is_file():
        return {}
    with open(path, encoding="utf-8") as handle:
        trained = _flatten(yaml.safe_load(handle) or {})
    current = _flatten(config.to_dict())
    changed = {key: (trained[key], current[key]) for key in sorted(set(trained) & set(current)) if trained[key] != current[key]}
    refused = {key: values for key, values in changed.items() if not _resumable(key)}
    if refused:
        listing = "; ".join(f"{key}: trained with {old!r}, now {new!r}" for key, (old, new) in refused.items())
        raise ValueError(
            f"--resume: the run in {config.run_dir()} was configured differently ({listing}). A resumed run "
            f"continues as configured; only {', '.join(field.rstrip('.') for field in RESUMABLE_FIELDS)} may change. "
            "Start a new run (another output_dir) to train with these settings."
        )
    return {key: values for key, values in changed.items() if _resumable(key)}


def apply_resumed_overrides(model, changed: dict) -> None:
    """Applies what the checkpoint would otherwise restore over (the learning rate) and says what changed."""
    for key, (old, new) in changed.items():
        if key == "train.learning_rate":
            model.optimizer.learning_rate = float(new)
        print(f"--resume: {key} {old!r} -> {new!r} applies from the next epoch")


def write_json_atomically(path: Path, value) -> None:
    """Writes JSON through a temporary file renamed over `path`."""
    with atomic_output_file(path) as temporary:
        Path(temporary).write_text(json.dumps(value, indent=2), encoding="utf-8")
