"""Data layer: file readers returning `datasets.Dataset`, tag schemes, splits and tf.data batching.

Readers (each checks UTF-8 first and reports bad input as FILE:LINE):
    read_conll, load_conll_hub          tokens / tags
    read_parallel, read_parallel_tsv    source / target
    read_text_classification            text / label
    read_plain_text, read_token_stream  text / flat token list
"""

from nlp_apps.data.batching import bucket_boundaries_from_lengths, make_batches, padding_fraction
from nlp_apps.data.conll_reader import load_conll_hub, read_conll
from nlp_apps.data.files import check_utf8, open_text, resolve_data_path
from nlp_apps.data.parallel_reader import read_parallel, read_parallel_tsv
from nlp_apps.data.plain_text_reader import read_plain_text, read_token_stream
from nlp_apps.data.splits import cross_validation_fold, k_folds, train_dev_split
from nlp_apps.data.tag_schemes import SCHEMES, convert_tags, first_tag_error, normalize_scheme, validate_tags
from nlp_apps.data.text_classification_reader import read_text_classification

__all__ = [
    "SCHEMES",
    "bucket_boundaries_from_lengths",
    "check_utf8",
    "convert_tags",
    "cross_validation_fold",
    "first_tag_error",
    "k_folds",
    "load_conll_hub",
    "make_batches",
    "normalize_scheme",
    "open_text",
    "padding_fraction",
    "read_conll",
    "read_parallel",
    "read_parallel_tsv",
    "read_plain_text",
    "read_text_classification",
    "read_token_stream",
    "resolve_data_path",
    "train_dev_split",
    "validate_tags",
]
