"""Perplexity, bits per character, the stream batching they rely on, and contiguous splits."""

import math

import numpy as np
import pytest

from nlp_apps.data.token_stream import contiguous_split, stream_matrix, stream_windows
from nlp_apps.encoders.rnn_encoder import RNNEncoder
from nlp_apps.metrics.perplexity import bits_per_character, perplexity, stream_perplexity
from nlp_apps.tasks.language_model.model import LanguageModel


def test_formulas():
    assert perplexity(10 * math.log(7.0), 10) == pytest.approx(7.0)
    assert bits_per_character(8 * math.log(2.0), 4) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="num_tokens"):
        perplexity(1.0, 0)


@pytest.mark.parametrize("num_streams", [1, 3])
def test_uniform_model_has_perplexity_equal_to_the_vocabulary_size(num_streams):
    vocabulary_size = 17
    model = LanguageModel(RNNEncoder(vocabulary_size, 4, units=5, return_state=True), tie_weights=False)
    model.build((None, None))
    # Zero output weights: every logit is 0, every token has probability 1 / V.
    for weight in model.output_layer.weights:
        weight.assign(np.zeros(weight.shape, "float32"))
    ids = np.random.default_rng(0).integers(1, vocabulary_size, size=101)
    result = stream_perplexity(model, ids, num_streams=num_streams, window_length=8)
    assert result["perplexity"] == pytest.approx(vocabulary_size, rel=1e-5)
    assert result["bits_per_token"] == pytest.approx(math.log2(vocabulary_size), rel=1e-5)
    assert result["num_tokens"] == (101 // num_streams - 1) * num_streams


def test_stream_windows_predict_every_token_once():
    ids = np.arange(1, 24)
    matrix = stream_matrix(ids, 2)
    assert matrix.tolist() == [list(range(1, 12)), list(range(12, 23))]  # the last id is trimmed
    windows = list(stream_windows(ids, 2, 4, pad_last=True))
    targets = np.concatenate([window[1] for window in windows], axis=1)
    inputs = np.concatenate([window[0] for window in windows], axis=1)
    assert targets[0][targets[0] > 0].tolist() == list(range(2, 12))
    assert inputs[1][inputs[1] > 0].tolist() == list(range(12, 22))
    assert all(window[0].shape == (2, 4) for window in windows)
    # Without padding the short last window is dropped.
    assert len(list(stream_windows(ids, 2, 4))) == len(windows) - 1
    with pytest.raises(ValueError, match="too few"):
        stream_matrix([1, 2, 3], 2)


def test_contiguous_split_is_seeded_and_covers_every_line():
    lines = [f"line {index}" for index in range(100)]
    train, dev, test = contiguous_split(lines, 0.05, 0.05, seed=7)
    assert (len(train), len(dev), len(test)) == (90, 5, 5)
    assert sorted(train + dev + test) == sorted(lines)
    start = lines.index(dev[0])
    assert dev + test == lines[start : start + 10]
    assert contiguous_split(lines, 0.05, 0.05, seed=7) == (train, dev, test)
    end_train, end_dev, end_test = contiguous_split(lines, 0.05, 0.05, seed=-1)
    assert end_train == lines[:90] and end_test == lines[95:]
    with pytest.raises(ValueError, match="data.dev_fraction"):
        contiguous_split(lines, 0.0, 0.05, seed=1)
