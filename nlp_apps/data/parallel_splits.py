"""The train / dev / test splits of a translation data set, from local files or the Hugging Face hub."""

from __future__ import annotations

import datasets

from nlp_apps.config import DataConfig
from nlp_apps.data.files import resolve_data_path
from nlp_apps.data.parallel_reader import read_parallel, read_parallel_tsv
from nlp_apps.data.sample_data import resolve_data_dir

FORMATS = ("parallel", "tsv")
# Hub data sets name their dev split "validation".
HUB_SPLIT_NAMES = {"dev": "validation"}


def _check_languages(data: DataConfig) -> None:
    for field in ("source_language", "target_language"):
        if not getattr(data, field):
            raise ValueError(f"data.{field}: required for translation (e.g. 'en' / 'de')")


def read_parallel_split(data: DataConfig, split: str) -> datasets.Dataset:
    """Sentence pairs (`source`, `target` string columns) of one split.

    - `format: parallel`: `data.<split>` is a path prefix; the files are
      `<prefix>.<source_language>` and `<prefix>.<target_language>` (Multi30k's
      `train.en` / `train.de`), plain or gzipped.
    - `format: tsv`: `data.<split>` is one tab-separated file; columns
      `data.source_column` and `data.target_column` (spa-eng).
    - `data.hub_name`: a Hugging Face hub data set whose columns are named by
      the language codes, or which has a `translation` column of
      `{language: sentence}` mappings (the WMT layout).
    """
    if split not in ("train", "dev", "test"):
        raise ValueError(f"split: expected train, dev or test, got {split!r}")
    if data.hub_name:
        return _read_hub_split(data, split)
    if data.format not in FORMATS:
        raise ValueError(f"data.format: {data.format!r} is not a translation format; choose one of {', '.join(FORMATS)}")
    name = getattr(data, split)
    if not name:
        raise ValueError(f"data.{split}: no file given for the {split} split")
    data_dir = resolve_data_dir(data.data_dir)
    if data.format == "tsv":
        return read_parallel_tsv(resolve_data_path(name, data_dir), data.source_column, data.target_column)
    _check_languages(data)
    return read_parallel(
        resolve_data_path(f"{name}.{data.source_language}", data_dir),
        resolve_data_path(f"{name}.{data.target_language}", data_dir),
    )


def _read_hub_split(data: DataConfig, split: str) -> datasets.Dataset:
    _check_languages(data)
    hub_split = getattr(data, split) or HUB_SPLIT_NAMES.get(split, split)
    loaded = datasets.load_dataset(data.hub_name, data.hub_config or None, split=hub_split)
    if "translation" in loaded.column_names:
        pairs = loaded["translation"]
        sources = [pair[data.source_language] for pair in pairs]
        targets = [pair[data.target_language] for pair in pairs]
    else:
        for language in (data.source_language, data.target_language):
            if language not in loaded.column_names:
                raise ValueError(
                    f"data.hub_name {data.hub_name!r}: split {hub_split!r} has no column {language!r} "
                    f"(columns: {', '.join(loaded.column_names)})"
                )
        sources, targets = list(loaded[data.source_language]), list(loaded[data.target_language])
    for row, (source, target) in enumerate(zip(sources, targets)):
        if not source or not source.strip() or not target or not target.strip():
            raise ValueError(f"data.hub_name {data.hub_name!r}: split {hub_split!r}, row {row}: empty sentence")
    return datasets.Dataset.from_dict({"source": [s.strip() for s in sources], "target": [t.strip() for t in targets]})
