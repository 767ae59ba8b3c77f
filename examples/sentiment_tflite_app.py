"""Reference app-side sentiment on the exported TFLite model: no TensorFlow, no nlp_apps.

What an app does around `model_<quantization>.tflite` of a sentiment export,
in plain Python to read and port (needs `app_text.py` beside it, `numpy`,
`regex` and `ai_edge_litert`):

    python examples/sentiment_tflite_app.py saved_models/sentiment_sample "A wonderful film. I loved it."

It reproduces the SavedModel's `serving_default` probabilities (to float
tolerance), label, and the sentences and words the attention weights belong to
(tests/integration/test_sentiment_sample_pipeline.py checks this). Steps, as in
`nlp_apps/tasks/sentiment/preprocessor.py`:

1. NUL becomes a space; `<br />` markup (any case, optional space and slash)
   becomes a line break.
2. Sentences end at a line break, or after `.`, `!` or `?` (and any closing
   quotes or brackets) followed by whitespace (Unicode separators or control
   characters).
3. Each sentence is split into words by the shared tokenizer (`app_text.tokenize`);
   sentences without words are dropped.
4. A document keeps its first `max_sentences` sentences and the first
   `max_words_per_sentence` words of each (`assets/preprocessor.json`; 0 = all).
5. Word ids as in `app_text.WordIds`; the model takes `token_ids` `(1, S, W)`,
   0-padded to the longest sentence, at least `(1, 1, 1)`.
6. `probabilities` index `manifest.json`'s `task_info.label_names`; the model
   also returns `word_attention` `(1, S, W)` and `sentence_attention` `(1, S)`.
7. A document without words gets the neutral result, as the SavedModel gives
   it: uniform probabilities and label "" (not the model's guess on nothing).
"""

import json
import sys

import numpy as np
import regex

from app_text import WordIds, interpreter_for, load_manifest, version_folder, nul_as_space, tokenize

LINE_BREAK_MARKUP = regex.compile(r"(?i)<br\s*/?>")
SENTENCE_END = regex.compile(r"([.!?]+[\"'\)\]]*)[\p{Z}\p{Cc}]+")


def split_document(text, max_sentences=0, max_words_per_sentence=0):
    """(words per sentence, sentence strings), truncated like the SavedModel."""
    text = SENTENCE_END.sub("\\1\n", LINE_BREAK_MARKUP.sub("\n", nul_as_space(text)))
    kept = [(sentence, [token for token, _, _ in tokenize(sentence)]) for sentence in text.split("\n")]
    kept = [(sentence.strip(), words) for sentence, words in kept if words]
    if max_sentences:
        kept = kept[:max_sentences]
    words = [sentence_words[:max_words_per_sentence] if max_words_per_sentence else sentence_words for _, sentence_words in kept]
    return words, [sentence for sentence, _ in kept]


class SentimentApp:
    def __init__(self, export_dir, quantization="float32"):
        export_dir = version_folder(export_dir)
        manifest = load_manifest(export_dir)
        self.label_names = manifest["task_info"]["label_names"]
        self.word_ids = WordIds(f"{export_dir}/assets")
        self.interpreter, self.runner = interpreter_for(export_dir, manifest, f"tflite/{quantization}")

    def token_ids(self, words):
        token_ids = np.zeros((1, max(len(words), 1), max([len(sentence) for sentence in words] + [1])), np.int32)
        for row, sentence in enumerate(words):
            token_ids[0, row, : len(sentence)] = [self.word_ids(word) for word in sentence]
        return token_ids

    def __call__(self, text):
        """{"label", "probabilities", "sentences", "words", "word_attention", "sentence_attention"}."""
        options = self.word_ids.options
        words, sentences = split_document(text, options["max_sentences"], options["max_words_per_sentence"])
        outputs = self.runner(token_ids=self.token_ids(words))
        self.interpreter.reset_all_variables()  # a fused LSTM sentence encoder is stateful
        probabilities = outputs["probabilities"][0]
        empty = not any(words)
        if empty:
            probabilities = np.full_like(probabilities, 1.0 / len(self.label_names))
        return {
            "label": "" if empty else self.label_names[int(np.argmax(probabilities))],
            "probabilities": probabilities.tolist(),
            "sentences": sentences,
            "words": words,
            "word_attention": outputs["word_attention"][0].tolist(),
            "sentence_attention": outputs["sentence_attention"][0].tolist(),
        }


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: python examples/sentiment_tflite_app.py EXPORT_DIR TEXT [TEXT ...]")
    app = SentimentApp(sys.argv[1])
    for text in sys.argv[2:]:
        result = app(text)
        print(json.dumps({key: result[key] for key in ("label", "probabilities", "sentences")}, ensure_ascii=False))
