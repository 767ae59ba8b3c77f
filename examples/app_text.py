"""The text preparation the exported TFLite models expect, in plain Python (no TensorFlow).

Shared by the reference apps in this folder (`ner_tflite_app.py`,
`sentiment_tflite_app.py`); each mirrors one in-graph layer of nlp_apps, and
the tests check that the apps reproduce the SavedModels. Needs the `regex`
package for Unicode property classes (\\p{L}), which RE2 has and `re` lacks.
"""

import json
from pathlib import Path

import regex

# The tokenizer of nlp_apps/text/word_tokenizer.py (DEFAULT_SPLIT_PATTERN), leftmost-first;
# RE2's \x{...} escapes written as Python's \u / \U.
_WORD = r"[\p{L}\p{M}\p{N}]+"
_SYMBOL = r"[^\p{Z}\p{Cc}][\p{M}\U0001F3FB-\U0001F3FF]*"
SPLIT_PATTERN = "|".join(
    [
        r"(?:\p{L}\.){2,}",
        r"\p{N}+(?:[.,:/-]\p{N}+)+",
        # RE2's \b is ASCII-only: after the clitic's letter, no ASCII word character.
        r"'(?i:s|re|ve|ll|d|m|t)(?![0-9A-Za-z_])",
        _WORD + r"(?:-" + _WORD + r")*",
        r"\.{2,}|-{2,}",
        _SYMBOL + r"(?:\u200D" + _SYMBOL + r")*",
    ]
)
WHITESPACE_PATTERN = r"[\p{Z}\p{Cc}]+"
_KEEP = regex.compile(SPLIT_PATTERN)
_DELIMITER = regex.compile(f"(?P<space>{WHITESPACE_PATTERN})|(?:{SPLIT_PATTERN})")


def tokenize(text):
    """[(token, start, end)] with code-point offsets."""
    tokens, position = [], 0
    for match in _DELIMITER.finditer(text):
        if match.start() > position:  # text between two delimiters
            tokens.append((text[position : match.start()], position, match.start()))
        if match.group("space") is None and _KEEP.fullmatch(match.group()):
            tokens.append((match.group(), match.start(), match.end()))
        position = match.end()
    if position < len(text):
        tokens.append((text[position:], position, len(text)))
    return tokens


def nul_as_space(text):
    """NUL is a control character, so whitespace (the SavedModels replace it by a space too)."""
    return text.replace("\x00", " ")


class WordIds:
    """Word → id from an export's `assets/` (`vocabulary.txt` line i = id i; 1 = unknown)."""

    def __init__(self, assets):
        assets = Path(assets)
        self.options = json.loads((assets / "preprocessor.json").read_text(encoding="utf-8"))
        lines = (assets / "vocabulary.txt").read_text(encoding="utf-8").split("\n")[:-1]
        self.ids = {word.rstrip("\r"): index for index, word in enumerate(lines)}

    def __call__(self, token):
        word = token.lower() if self.options.get("lowercase") else token
        if self.options.get("normalize_digits"):
            word = regex.sub(r"[0-9]", "0", word)
        return self.ids.get(word, 1)


def version_folder(export_dir):
    """`saved_models/<name>/` → its highest version `<name>/<N>/`; a version folder stays as it is."""
    export_dir = Path(export_dir)
    if (export_dir / "manifest.json").is_file():
        return export_dir
    versions = [int(path.name) for path in export_dir.iterdir() if path.is_dir() and path.name.isdigit()]
    if not versions:
        raise ValueError(f"{export_dir}: no exported version (run nlp-apps export first)")
    return export_dir / str(max(versions))


def load_manifest(export_dir):
    return json.loads((Path(export_dir) / "manifest.json").read_text(encoding="utf-8"))


def interpreter_for(export_dir, manifest, artifact):
    """`(interpreter, signature runner)` of a TFLite artifact named in the manifest."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(Path(export_dir) / manifest["artifacts"][artifact]))
    return interpreter, interpreter.get_signature_runner()
