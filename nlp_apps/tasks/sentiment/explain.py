"""Attention explanations of sentiment predictions: an HTML page and a PNG per document.

The HTML shades each sentence by its sentence attention (bar on the left) and
each word by its word attention within the sentence, the picture of
Yang et al. (2016, figure 5). Words the model never saw because of truncation
(`text.max_sentences`, `text.max_words_per_sentence`) are shown in grey, so
every word of the input appears. All text is HTML-escaped.
"""

import html
from pathlib import Path

import numpy as np
import tensorflow as tf

PAGE_STYLE = """
body { font-family: sans-serif; max-width: 60em; margin: 2em auto; line-height: 1.6; }
.sentence { display: flex; margin: 0.2em 0; }
.weight { flex: 0 0 4em; font-size: 0.8em; color: #555; text-align: right; padding-right: 0.5em; }
.bar { flex: 0 0 0.6em; margin-right: 0.6em; }
.words span.word { padding: 0 0.1em; border-radius: 0.2em; }
.truncated { color: #999; }
"""


def _word_color(weight: float) -> str:
    return f"rgba(255, 140, 0, {weight:.3f})"


def _sentence_color(weight: float) -> str:
    return f"rgba(30, 90, 200, {weight:.3f})"


def _full_documents(preprocessor, texts):
    """Every sentence and word of each text (no truncation), as Python lists."""
    words, sentences = preprocessor.split_documents(tf.constant(texts, dtype=tf.string))
    return (
        [[[word.decode("utf-8") for word in sentence] for sentence in document] for document in words.to_list()],
        [[sentence.decode("utf-8") for sentence in document] for document in sentences.to_list()],
    )


def explanation_html(result: dict, all_words: list[list[str]]) -> str:
    """One self-contained HTML page for one `classify_texts` result.

    `all_words` are the document's untruncated words per sentence; the first
    sentences / words are those the model saw (`result["words"]`).
    """
    sentence_weights = result["sentence_attention"]
    word_weights = result["word_attention"]
    top_sentence = max(sentence_weights, default=0.0) or 1.0
    rows = []
    for s, sentence in enumerate(all_words):
        seen = s < len(word_weights)
        sentence_weight = sentence_weights[s] if seen else 0.0
        weights = word_weights[s] if seen else []
        top_word = max(weights, default=0.0) or 1.0
        spans = []
        for w, word in enumerate(sentence):
            if w < len(weights):
                spans.append(
                    f'<span class="word" title="{weights[w]:.4f}" '
                    f'style="background:{_word_color(weights[w] / top_word)}">{html.escape(word)}</span>'
                )
            else:
                spans.append(f'<span class="word truncated" title="truncated">{html.escape(word)}</span>')
        label = f"{sentence_weight:.3f}" if seen else "cut"
        rows.append(
            f'<div class="sentence"><div class="weight">{label}</div>'
            f'<div class="bar" style="background:{_sentence_color(sentence_weight / top_sentence)}"></div>'
            f'<div class="words">{" ".join(spans)}</div></div>'
        )
    probabilities = ", ".join(f"{html.escape(name)}: {value:.3f}" for name, value in result["probabilities"].items())
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>sentiment explanation</title>"
        f"<style>{PAGE_STYLE}</style></head><body>\n"
        f"<h1>{html.escape(result['label'])} ({result['probability']:.3f})</h1>\n"
        f"<p>{probabilities}. Blue bar: sentence attention; orange: word attention within the sentence "
        "(relative to its strongest word); grey: truncated, not seen by the model.</p>\n"
        + "\n".join(rows)
        + "\n</body></html>\n"
    )


def explanation_png(result: dict, path: Path) -> None:
    """Sentence attention (bars) beside word attention (heat map, sentences × word positions)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    words = result["words"]
    num_sentences = max(len(words), 1)
    num_words = max((len(sentence) for sentence in words), default=1) or 1
    heat = np.zeros((num_sentences, num_words))
    for s, weights in enumerate(result["word_attention"]):
        heat[s, : len(weights)] = weights
    bars = np.zeros(num_sentences)
    bars[: len(result["sentence_attention"])] = result["sentence_attention"]
    labels = [" ".join(sentence)[:40] for sentence in words] or [""]
    figure, (left, right) = plt.subplots(
        1, 2, figsize=(12, 1.5 + 0.35 * num_sentences), gridspec_kw={"width_ratios": [1, 3]}, squeeze=True
    )
    left.barh(np.arange(num_sentences), bars, color="#1e5ac8")
    left.set_yticks(np.arange(num_sentences), labels, fontsize=7)
    left.invert_yaxis()
    left.set_xlabel("sentence attention")
    image = right.imshow(heat, aspect="auto", cmap="Oranges", interpolation="nearest")
    if num_words <= 30 and num_sentences <= 40:
        # Small documents: write each word in its cell, so the map reads like the text.
        for s, sentence in enumerate(words):
            for w, word in enumerate(sentence):
                right.text(w, s, word[:10], ha="center", va="center", fontsize=6)
    right.set_xlabel("word position")
    right.set_yticks([])
    figure.colorbar(image, ax=right, label="word attention")
    figure.suptitle(f"{result['label']} ({result['probability']:.3f})")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def write_explanations(results: list[dict], full_preprocessor, folder: Path) -> list[tuple[Path, Path]]:
    """Writes `explanation_<i>.html` and `.png` for each result; returns their paths.

    `full_preprocessor` splits the texts like the model's preprocessor but
    without truncation (so truncated words can be shown).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    all_words, _ = _full_documents(full_preprocessor, [result["text"] for result in results])
    paths = []
    for index, (result, words) in enumerate(zip(results, all_words)):
        html_path = folder / f"explanation_{index}.html"
        png_path = folder / f"explanation_{index}.png"
        html_path.write_text(explanation_html(result, words), encoding="utf-8")
        explanation_png(result, png_path)
        paths.append((html_path, png_path))
    return paths
