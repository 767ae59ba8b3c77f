"""Alignment heat-maps: which source pieces each output piece attended to."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers
import matplotlib.pyplot as plt  # noqa: E402


def _file_name(index: int, text: str) -> str:
    slug = re.sub(r"[^0-9A-Za-z]+", "_", text).strip("_")[:40] or "empty"
    return f"attention_{index:03d}_{slug}.png"


def save_attention_plot(attention, source_pieces: list[str], target_pieces: list[str], path: Path, title: str = "") -> Path:
    """Writes one heat-map PNG: rows are output pieces, columns source pieces (both as the model saw them)."""
    rows, columns = max(len(target_pieces), 1), max(len(source_pieces), 1)
    figure, axes = plt.subplots(figsize=(max(4.0, 0.45 * columns + 2), max(3.0, 0.4 * rows + 1.5)))
    try:
        image = axes.imshow(attention[:rows, :columns] if len(target_pieces) else [[0.0] * columns],
                            cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
        axes.set_xticks(range(len(source_pieces)), source_pieces, rotation=90)
        axes.set_yticks(range(len(target_pieces)), target_pieces)
        axes.set_xlabel("source")
        axes.set_ylabel("translation")
        if title:
            axes.set_title(title[:80], fontsize=9)
        figure.colorbar(image, ax=axes, fraction=0.04)
        figure.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=100)
    finally:
        plt.close(figure)
    return path


def save_attention_plots(results: list[dict], preprocessor, folder: Path) -> list[Path]:
    """One PNG per translated text (results of `nlp_apps.tasks.translation.task.translate_texts`)."""
    source_pieces = preprocessor.source_pieces([result["text"] for result in results])
    paths = []
    for index, (result, sources) in enumerate(zip(results, source_pieces)):
        targets = preprocessor.target_pieces(result["ids"])
        paths.append(
            save_attention_plot(result["attention"], sources, targets, folder / _file_name(index, result["text"]), result["text"])
        )
    return paths
