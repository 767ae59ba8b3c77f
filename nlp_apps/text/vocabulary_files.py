"""Saving and loading a word-vocabulary preprocessor: its vocabulary, JSON assets and options in one folder.

The NER and sentiment preprocessors hold a word vocabulary (`[PAD]`,
`[UNK]` first), a few JSON-serializable assets (alphabet, tag or label
names) and a handful of options (lower-casing, truncation). A trained run
keeps all three in its `assets/` folder, so predict and export rebuild the
exact preprocessing that training used, whatever config they are given.
"""

import json
from pathlib import Path

from nlp_apps.text.vocabulary import Vocabulary

VOCABULARY_FILE = "vocabulary.txt"
OPTIONS_FILE = "preprocessor.json"


class VocabularyFiles:
    """Mixin giving `save(folder)` and classmethod `load(folder)`.

    A subclass stores its vocabulary as `self.vocabulary` (a token list),
    names its JSON assets in `json_assets` (constructor argument → file
    name) and returns its options, as constructor keyword arguments, from
    `options()`.
    """

    json_assets: dict = {}

    def options(self) -> dict:
        raise NotImplementedError

    def save(self, folder) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        Vocabulary(self.vocabulary[2:], pad_token=self.vocabulary[0], unk_token=self.vocabulary[1]).save(folder / VOCABULARY_FILE)
        for argument, file_name in self.json_assets.items():
            (folder / file_name).write_text(json.dumps(getattr(self, argument), ensure_ascii=False), encoding="utf-8")
        (folder / OPTIONS_FILE).write_text(json.dumps(self.options(), indent=2), encoding="utf-8")

    @classmethod
    def load(cls, folder):
        folder = Path(folder)
        for file_name in (VOCABULARY_FILE, OPTIONS_FILE, *cls.json_assets.values()):
            if not (folder / file_name).is_file():
                raise ValueError(
                    f"{folder / file_name}: missing; the run was not trained by this version of nlp_apps (train it again)"
                )
        assets = {
            argument: json.loads((folder / file_name).read_text(encoding="utf-8"))
            for argument, file_name in cls.json_assets.items()
        }
        options = json.loads((folder / OPTIONS_FILE).read_text(encoding="utf-8"))
        return cls(Vocabulary.load(folder / VOCABULARY_FILE).tokens, **assets, **options)
