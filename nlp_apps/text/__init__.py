"""Vocabularies and tokenizers; the layers run inside the TF graph.

Exported SavedModels built from these layers take raw strings. Id
conventions are shared: 0 = padding (never produced for a real token),
1 = unknown, then extra special tokens (e.g. "<s>", "</s>"), then tokens.

TFLite: `TokenLookup` (and the id lookup of `CharLookup` / `CharTokenizer`)
uses `FastWordpieceTokenizer` and `SubwordTokenizer` uses
`FastSentencepieceTokenizer`, both tensorflow-text TFLite custom ops.
`WordTokenizer` (regex split), `CaseFeatures` (regex match) and the
`unicode_split` of the character layers are not TFLite ops.
"""

from nlp_apps.text.case_features import CASE_VOCABULARY_SIZE, CaseFeatures, case_class
from nlp_apps.text.char_lookup import CharLookup, build_alphabet
from nlp_apps.text.char_tokenizer import CharTokenizer
from nlp_apps.text.sentencepiece_model import SubwordTokenizer, train_sentencepiece
from nlp_apps.text.token_lookup import TokenLookup
from nlp_apps.text.vocabulary import Vocabulary
from nlp_apps.text.word_tokenizer import DEFAULT_SPLIT_PATTERN, WordTokenizer

__all__ = [
    "CASE_VOCABULARY_SIZE",
    "CaseFeatures",
    "CharLookup",
    "CharTokenizer",
    "DEFAULT_SPLIT_PATTERN",
    "SubwordTokenizer",
    "TokenLookup",
    "Vocabulary",
    "WordTokenizer",
    "build_alphabet",
    "case_class",
    "train_sentencepiece",
]
