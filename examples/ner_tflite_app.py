"""Reference app-side NER on the exported TFLite model: no TensorFlow, no nlp_apps.

What an app (Kotlin, Swift, C++) has to do around `model_<quantization>.tflite`,
written in plain Python so that it can be read and ported line by line. It
needs only the export folder (`nlp-apps export`), `numpy`, the `regex`
package (Unicode property classes, as RE2 has them) and `ai_edge_litert`:

    python examples/ner_tflite_app.py saved_models/ner_sample "Orin Lindqvar visited Valdoria ."

It reproduces the SavedModel's `serving_default` tokens, IOB2 tags and entity
spans (tests/integration/test_ner_sample_pipeline.py checks this, on emoji,
non-Latin and empty input too). The preprocessing, step by step:

1. Tokens: every match of `SPLIT_PATTERN` is a token; text between matches
   that is not whitespace (Unicode separators and control characters, NUL
   included) is a token too. Offsets are code-point positions.
2. Word ids: the token, lower-cased if `assets/preprocessor.json` says
   `lowercase`, with ASCII digits replaced by "0" if `normalize_digits`, looked
   up in `assets/vocabulary.txt` (line i = id i; line 0 padding, line 1
   `[UNK]` = the id of any word not in the file).
3. Character ids: the token's first `max_chars_per_token` code points (original
   case), each `alphabet.index(c) + 2` from `assets/alphabet.json`, 1 if absent.
4. Casing ids: `case_class` below (0 padding, 1 lower, 2 Capitalised,
   3 ALL CAPS, 4 numeric, 5 contains a digit, 6 other).
5. Run the model on `token_ids (1, n)`, `char_ids (1, n, c)` (c = the longest
   token's characters, 0-padded), `case_ids (1, n)`; `tag_ids (1, n)` index
   `manifest.json`'s `task_info.tag_names` (IOB2). The fused LSTM ops keep
   state between invocations: reset the interpreter's variables after each.
6. Entities: a B- tag starts a span, I- tags of the same type extend it (an
   I- after O or another type starts one too, as seqeval reads IOB2).
"""

import json
import sys
import unicodedata
from pathlib import Path

import numpy as np
import regex

from app_text import WordIds, interpreter_for, load_manifest, version_folder, nul_as_space, tokenize


def _case_symbol(character):
    if character in "'\u2019":
        return "'"
    if character in ".,:/-":
        return character
    category = unicodedata.category(character)
    if category in ("Lu", "Lt"):
        return "U"
    if category == "Ll":
        return "l"
    if category in ("Lo", "Lm"):
        return "o"
    return {"M": "M", "N": "N"}.get(category[0], "x")


_CASE_PATTERNS = [
    (4, regex.compile(r"N+(?:[.,:/-]N+)*")),
    (5, regex.compile(r".*N.*", regex.DOTALL)),
    (3, regex.compile(r"U[UM'.-]*U[UM'.-]*")),
    (2, regex.compile(r"U[UloM'.-]*")),
    (1, regex.compile(r"'?l[lM'.-]*")),
]


def case_class(token):
    symbols = "".join(_case_symbol(character) for character in token)
    for class_id, pattern in _CASE_PATTERNS:
        if pattern.fullmatch(symbols):
            return class_id
    return 6


class NERApp:
    def __init__(self, export_dir, quantization="float32"):
        export_dir = version_folder(export_dir)
        manifest = load_manifest(export_dir)
        self.tag_names = manifest["task_info"]["tag_names"]
        assets = Path(export_dir) / "assets"
        self.word_ids = WordIds(assets)
        self.options = self.word_ids.options
        alphabet = json.loads((assets / "alphabet.json").read_text(encoding="utf-8"))
        self.char_ids = {character: index + 2 for index, character in enumerate(alphabet)}
        self.interpreter, self.runner = interpreter_for(export_dir, manifest, f"tflite/{quantization}")

    def features(self, tokens):
        words = [self.word_ids(token) for token in tokens]
        limit = self.options["max_chars_per_token"]
        width = max([min(len(token), limit) for token in tokens] + [1])
        chars = np.zeros((1, max(len(tokens), 1), width), np.int32)
        for row, token in enumerate(tokens):
            for column, character in enumerate(token[:limit]):
                chars[0, row, column] = self.char_ids.get(character, 1)
        token_ids = np.array([words or [0]], np.int32)
        case_ids = np.array([[case_class(token) for token in tokens] or [0]], np.int32)
        return {"token_ids": token_ids, "char_ids": chars, "case_ids": case_ids}

    def __call__(self, text):
        """{"tokens", "tags", "entities": [(type, text, start, end)]} for one text."""
        pieces = tokenize(nul_as_space(text))
        tokens = [token for token, _, _ in pieces]
        if not tokens:
            return {"tokens": [], "tags": [], "entities": []}
        tag_ids = self.runner(**self.features(tokens))["tag_ids"][0]
        self.interpreter.reset_all_variables()
        tags = [self.tag_names[int(tag)] for tag in tag_ids[: len(tokens)]]
        entities, current = [], None
        for (token, start, end), tag in zip(pieces, tags):
            prefix, _, entity_type = tag.partition("-")
            if prefix == "I" and current is not None and current[0] == entity_type:
                current[3] = end
                continue
            if current is not None:
                entities.append(current)
            current = [entity_type, None, start, end] if prefix in ("B", "I") else None
        if current is not None:
            entities.append(current)
        return {
            "tokens": tokens,
            "tags": tags,
            "entities": [(kind, text[start:end], start, end) for kind, _, start, end in entities],
        }


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: python examples/ner_tflite_app.py EXPORT_DIR TEXT [TEXT ...]")
    app = NERApp(sys.argv[1])
    for text in sys.argv[2:]:
        print(json.dumps(app(text), ensure_ascii=False))
