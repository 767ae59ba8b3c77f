"""A SavedModel built from every nlp_apps.text layer takes raw strings in a process that imports only
tensorflow and tensorflow_text (not nlp_apps), as an exported model will be served."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from nlp_apps.text import (
    CaseFeatures,
    CharLookup,
    CharTokenizer,
    SubwordTokenizer,
    TokenLookup,
    Vocabulary,
    WordTokenizer,
    build_alphabet,
    train_sentencepiece,
)

CORPUS = ["U.N. officials said, 'no'.", "The cat sat on the mat.", "Germany's 3.5% rise", "東京 😀 café"]
INPUTS = CORPUS + ["", "   ", "unseen Words here!"]

LOADER = """
import json, sys
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the tensorflow-text ops)
serve = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
outputs = serve(strings=tf.constant(json.loads(sys.argv[2])))
print(json.dumps({key: value.numpy().tolist() for key, value in outputs.items()
                  if value.dtype != tf.string}))
print(json.dumps({key: [s.decode("utf-8") for s in value.numpy().tolist()] for key, value in outputs.items()
                  if value.dtype == tf.string}))
print(json.dumps(sorted(name for name in sys.modules if name.split(".")[0] == "nlp_apps")))
"""


def build_module():
    word_tokenizer = WordTokenizer(lowercase=True)
    tokens = word_tokenizer(tf.constant(CORPUS))["tokens"].to_list()
    vocabulary = Vocabulary.build([[t.decode() for t in row] for row in tokens])
    module = tf.Module()
    module.word_tokenizer = word_tokenizer
    module.token_lookup = TokenLookup(vocabulary)
    module.char_lookup = CharLookup(build_alphabet(CORPUS), max_chars_per_token=6)
    module.case_features = CaseFeatures()
    module.unigram = SubwordTokenizer(train_sentencepiece(CORPUS * 3, 60, seed=1), add_bos=True)
    module.bpe = SubwordTokenizer(train_sentencepiece(CORPUS * 3, 60, model_type="bpe", seed=1))
    module.char_tokenizer = CharTokenizer(build_alphabet(CORPUS))

    def serve(strings):
        words = module.word_tokenizer(strings)
        lengths = (words["ends"] - words["starts"]).to_tensor()
        original_case = tf.strings.substr(tf.expand_dims(strings, 1), words["starts"].to_tensor(), lengths)
        unigram_ids = module.unigram(strings)
        char_ids = module.char_tokenizer(strings)
        return {
            "word_ids": module.token_lookup(words["tokens"]).to_tensor(),
            "starts": words["starts"].to_tensor(),
            "char_ids": module.char_lookup(words["tokens"]).to_tensor(),
            "case_ids": module.case_features(original_case),
            "unigram_ids": unigram_ids.to_tensor(),
            "unigram_text": module.unigram.detokenize(unigram_ids),
            "bpe_ids": module.bpe(strings).to_tensor(),
            "char_text": module.char_tokenizer.detokenize(char_ids.to_tensor()),
        }

    module.serve = tf.function(serve, input_signature=[tf.TensorSpec([None], tf.string, name="strings")])
    return module


# A fresh process pays the full TensorFlow import (5-20 s on two shared cores).
@pytest.mark.slow
def test_saved_model_runs_in_fresh_process(tmp_path):
    module = build_module()
    path = str(tmp_path / "saved_model")
    tf.saved_model.save(module, path, signatures={"serving_default": module.serve})
    expected = module.serve(tf.constant(INPUTS))

    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "-c", LOADER, path, json.dumps(INPUTS)],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    numeric, strings, imported = (json.loads(line) for line in result.stdout.strip().splitlines()[-3:])
    assert imported == []
    for key, value in numeric.items():
        np.testing.assert_array_equal(np.array(value), expected[key].numpy(), err_msg=key)
    for key, value in strings.items():
        assert value == [s.decode("utf-8") for s in expected[key].numpy().tolist()], key
    assert strings["char_text"][:4] == CORPUS
    # Sanity: padding only where there are no tokens.
    assert (expected["word_ids"].numpy()[4:6] == 0).all()
