"""Locates the small synthetic data sets bundled with the package."""

import os
from pathlib import Path

SAMPLE_PREFIX = "sample:"
SAMPLE_DATA_ROOT = Path(__file__).resolve().parent.parent / "sample_data"


def resolve_data_dir(data_dir: str) -> str:
    """Expands `sample:NAME` to the bundled sample folder; else returns data_dir or $NLP_APPS_DATA.

    Pipelines on bundled data say `data_dir: sample:ner_sample`, so they run
    from any working directory and from an installed (non-editable) package.
    """
    if data_dir.startswith(SAMPLE_PREFIX):
        folder = SAMPLE_DATA_ROOT / data_dir[len(SAMPLE_PREFIX):]
        if not folder.is_dir():
            available = sorted(path.name for path in SAMPLE_DATA_ROOT.iterdir() if path.is_dir())
            raise ValueError(f"data.data_dir: no bundled sample data {data_dir!r}; available: {', '.join(available)}")
        return str(folder)
    return data_dir or os.environ.get("NLP_APPS_DATA", "")
