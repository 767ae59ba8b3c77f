"""What the NER task exports: the string-in SavedModel module and the dynamic-length TFLite function.

`NERTask` (task.py) runs them through the shared export loop of `Task.export`.
"""

import numpy as np
import tensorflow as tf

from nlp_apps.export.input_guard import guard_texts
from nlp_apps.export.verify import EDGE_CASE_TEXTS

from nlp_apps.tasks.ner.model import padding_mask
from nlp_apps.tasks.ner.preprocessor import FEATURE_KEYS

VERIFICATION_TEXTS = [
    "EU rejects German call to boycott British lamb .",
    "Peter Blackburn met officials of the United Nations in New York on Monday.",
    *EDGE_CASE_TEXTS,
]


def report_tag_names(tag_names: list[str], train_scheme: str) -> list[str]:
    """IOB2 name of every tag id. Valid BIOES maps to IOB2 token by token (S→B, E→I)."""
    if train_scheme not in ("bioes", "iob2"):
        raise ValueError(f"model.train_tag_scheme: export supports bioes or iob2, got {train_scheme!r}")
    renamed = {"S": "B", "E": "I"}
    names = []
    for name in tag_names:
        if name == "O":
            names.append(name)
        else:
            prefix, entity_type = name.split("-", 1)
            names.append(f"{renamed.get(prefix, prefix)}-{entity_type}")
    return names


class NERServingModule(tf.Module):
    """`serving_default`: raw strings in; tokens, IOB2 tags and entity spans out.

    Tokenization, character and casing features, the BiLSTM and CRF Viterbi
    decoding and the grouping of tags into entities all run in the graph.
    Outputs are padded: tokens with "", tags with "", offsets with -1.
    Offsets are in characters (Unicode code points) of the input string.
    A text longer than `max_input_chars` is tagged up to there and flagged
    in `truncated`; an empty one has no tokens (`num_tokens` 0) and `empty`.
    """

    def __init__(self, model, preprocessor, tag_names_iob2, max_input_chars):
        super().__init__()
        self.model = model
        self.preprocessor = preprocessor
        self.tag_names = tf.constant(tag_names_iob2)
        self.max_input_chars = int(max_input_chars)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="texts")])
    def serving_default(self, texts):
        texts, truncated, empty = guard_texts(texts, self.max_input_chars)
        pieces = self.preprocessor(texts)
        tag_ids = self.model.decode({key: pieces[key] for key in FEATURE_KEYS})
        tokens = pieces["tokens"]
        tag_ids = tf.RaggedTensor.from_tensor(tag_ids, lengths=tokens.row_lengths())
        tags = tf.ragged.map_flat_values(tf.gather, self.tag_names, tag_ids)
        starts = _char_offsets(texts, pieces["starts"])
        ends = _char_offsets(texts, pieces["ends"])
        entities = _entity_spans(texts, tags, starts, ends)
        outputs = {
            "tokens": tokens.to_tensor(default_value=""),
            "tags": tags.to_tensor(default_value=""),
            "token_starts": starts.to_tensor(default_value=-1),
            "token_ends": ends.to_tensor(default_value=-1),
            "num_tokens": tokens.row_lengths(),
            "truncated": truncated,
            "empty": empty,
        }
        outputs.update(entities)
        return outputs


def _char_offsets(texts, byte_offsets):
    """Byte offsets (ragged, per text) → character offsets.

    The character index of a byte offset is the number of characters that
    start before it: one sorted search over every character's byte offset.
    (Measuring the prefix before each token instead was quadratic: a
    50,000-character text held a CPU for a minute.) `texts` must be valid
    UTF-8 (`guard_texts` makes it so).
    """
    _, char_starts = tf.strings.unicode_decode_with_offsets(texts, "UTF-8")
    char_starts = tf.cast(char_starts, tf.int64)
    # One sorted key space for all rows: row r's offsets shifted past every byte of the rows before it.
    stride = tf.cast(tf.reduce_max(tf.concat([tf.strings.length(texts), [0]], axis=0)), tf.int64) + 1
    char_keys = char_starts.flat_values + char_starts.value_rowids() * stride
    query_keys = byte_offsets.flat_values + byte_offsets.value_rowids() * stride
    positions = tf.searchsorted(char_keys, query_keys, side="left", out_type=tf.int64)
    first_char = tf.gather(char_starts.row_starts(), byte_offsets.value_rowids())
    return byte_offsets.with_flat_values(positions - first_char)


def _entity_spans(texts, tags, starts, ends):
    """Groups IOB2 tags into entities: an opening token and the I-X tokens that follow it.

    An entity opens at B-X, or (as seqeval reads it) at an I-X whose previous
    token in the same text is O or of another type, so even a softmax head's
    invalid sequences give well-formed spans.
    """
    flat_tags = tags.flat_values
    types = tf.strings.regex_replace(flat_tags, "^[BI]-", "")
    is_entity = tf.not_equal(flat_tags, "O")
    nonempty = tags.row_lengths() > 0
    first_positions = tf.boolean_mask(tags.row_starts(), nonempty)
    is_row_start = tf.scatter_nd(
        first_positions[:, None], tf.ones_like(first_positions, tf.bool), tf.shape(flat_tags, out_type=tf.int64)
    )
    previous_types = tf.concat([["O"], types[:-1]], axis=0)
    previous_tags = tf.concat([["O"], flat_tags[:-1]], axis=0)
    continues = (
        tf.logical_not(is_row_start)
        & tf.not_equal(previous_tags, "O")
        & tf.equal(previous_types, types)
        & tf.strings.regex_full_match(flat_tags, "I-.*")
    )
    is_begin = is_entity & tf.logical_not(continues)
    entity_number = tf.cumsum(tf.cast(is_begin, tf.int64)) - 1
    entity_tokens = tf.where(is_entity)[:, 0]
    num_entities = tf.reduce_sum(tf.cast(is_begin, tf.int64))
    entity_ends = tf.math.unsorted_segment_max(
        tf.gather(ends.flat_values, entity_tokens), tf.gather(entity_number, entity_tokens), num_entities
    )
    begin_tokens = tf.where(is_begin)[:, 0]
    entity_starts = tf.gather(starts.flat_values, begin_tokens)
    entity_types = tf.gather(types, begin_tokens)
    entity_rows = tf.gather(tags.value_rowids(), begin_tokens)
    entity_texts = tf.strings.substr(
        tf.gather(texts, entity_rows), tf.cast(entity_starts, tf.int32), tf.cast(entity_ends - entity_starts, tf.int32), unit="UTF8_CHAR"
    )
    num_rows = tags.nrows()

    def per_row(values, default):
        return tf.RaggedTensor.from_value_rowids(values, entity_rows, nrows=num_rows).to_tensor(default_value=default)

    return {
        "entity_types": per_row(entity_types, ""),
        "entity_texts": per_row(entity_texts, ""),
        "entity_starts": per_row(entity_starts, -1),
        "entity_ends": per_row(entity_ends, -1),
    }


# The TFLite Viterbi search runs in int32 on scores rounded to 1/1024, in every
# variant, so that full_int8 keeps an exact search (see `CRF.decode`).
VITERBI_FIXED_POINT_SCALE = 1024


def tflite_function(model):
    """Token, character and casing ids of one sentence in (batch 1, any length), tag ids out.

    Both the number of tokens and of characters per token are dynamic: feed
    the sentence's own ids, unpadded (`sentence_features`). Traced under
    `mobile_rnn_kernels` (the shared TFLite export does this), the BiLSTM
    becomes fused `UNIDIRECTIONAL_SEQUENCE_LSTM` ops and everything is a
    builtin op; the CRF's Viterbi decoding stays a WHILE loop, in int32.
    Fused LSTM ops keep their state in variable tensors between invocations:
    call the interpreter's `reset_all_variables()` between sentences.
    """

    @tf.function(
        input_signature=[
            tf.TensorSpec([1, None], tf.int32, name="token_ids"),
            tf.TensorSpec([1, None, None], tf.int32, name="char_ids"),
            tf.TensorSpec([1, None], tf.int32, name="case_ids"),
        ]
    )
    def tag(token_ids, char_ids, case_ids):
        features = {"token_ids": token_ids, "char_ids": char_ids, "case_ids": case_ids}
        emissions = model(features, training=False)
        tag_ids = model.decode_emissions(emissions, padding_mask(features), VITERBI_FIXED_POINT_SCALE)
        # The emissions are an output too: per-token tag scores an app can use
        # as confidences, and, measured, what keeps full_int8 right: without
        # it the converter's int8 scale for them was unusable (F1 1.0 on
        # CoNLL test vs 86.0 with it).
        return {"tag_ids": tag_ids, "emissions": tf.cast(emissions, tf.float32)}

    return tag


def sentence_features(preprocessor, text: str) -> dict:
    """The TFLite model's inputs for one sentence: its ids, unpadded, int32, batch 1."""
    pieces = preprocessor(tf.constant([text]))
    arrays = {key: pieces[key].numpy().astype(np.int32) for key in FEATURE_KEYS}
    num_tokens = int(pieces["tokens"].row_lengths().numpy()[0])
    arrays = {key: value[:, :num_tokens] for key, value in arrays.items()}
    longest = int((arrays["char_ids"] != 0).sum(axis=-1).max(initial=0))
    arrays["char_ids"] = arrays["char_ids"][:, :, :max(longest, 1)]
    return arrays
