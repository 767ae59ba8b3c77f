"""The run directory: where a pipeline's checkpoints, logs, assets and resolved config go.

Every file name a run writes is named here once, so the task flow, the
callbacks, the exporters and the tests agree on them.
"""

from pathlib import Path

from nlp_apps.config import PipelineConfig, write_config

RESOLVED_CONFIG_NAME = "config.yaml"
BACKUP_DIR_NAME = "backup"
BEST_MODEL_NAME = "best.keras"
# The preprocessor's vocabularies / tokenizer models and options (`Preprocessor.save`).
ASSETS_DIR_NAME = "assets"
TRAIN_SUMMARY_NAME = "train_summary.json"
HISTORY_NAME = "history.csv"
TENSORBOARD_DIR_NAME = "tensorboard"


def prepare_run_dir(config: PipelineConfig, resume: bool = False) -> Path:
    """Creates the run directory and writes the resolved config into it.

    With `resume`, first checks that there is an epoch checkpoint to resume
    from, before any data is read or anything is overwritten.
    """
    run_dir = config.run_dir()
    if resume and not (run_dir / BACKUP_DIR_NAME).is_dir():
        raise ValueError(f"--resume: no checkpoint to resume from in {run_dir / BACKUP_DIR_NAME}")
    run_dir.mkdir(parents=True, exist_ok=True)
    write_config(config, run_dir / RESOLVED_CONFIG_NAME)
    return run_dir


def require_trained_model(config: PipelineConfig) -> Path:
    """Returns the path of the trained model, or explains how to get one."""
    model_path = config.run_dir() / BEST_MODEL_NAME
    if not model_path.is_file():
        raise ValueError(
            f"no trained model at {model_path}: run `nlp-apps train -c <config>` first "
            f"(or set output_dir to the run that trained it)"
        )
    return model_path
