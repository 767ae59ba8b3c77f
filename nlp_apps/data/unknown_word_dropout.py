"""Word dropout to `[UNK]` as a tf.data step, so the `[UNK]` embedding is trained for the unknown words met at test time."""

import tensorflow as tf

from nlp_apps.data.epochs import epoch_seed

UNKNOWN_ID = 1


def add_word_dropout(batches: tf.data.Dataset, probability: float, seed: int, key: str | None = None) -> tf.data.Dataset:
    """`batches` of `(inputs, labels)` with real token ids (> 1) swapped for `[UNK]` (id 1) at random.

    `inputs` is the id tensor itself, or a dict whose `key` entry is (the
    other features, e.g. characters, stay as they are). Padding (0) and
    `[UNK]` are never touched. The draw is stateless, seeded by (seed,
    training epoch, batch index): the same words drop in a resumed run as
    in an uninterrupted one, and nothing needs saving in the checkpoint.
    """

    def replace(index, element):
        inputs, labels = element
        token_ids = inputs[key] if key else inputs
        draw = tf.random.stateless_uniform(tf.shape(token_ids), seed=tf.stack([epoch_seed(seed), index]))
        drop = (draw < probability) & (token_ids > UNKNOWN_ID)
        token_ids = tf.where(drop, tf.fill(tf.shape(token_ids), tf.constant(UNKNOWN_ID, token_ids.dtype)), token_ids)
        return (dict(inputs, **{key: token_ids}) if key else token_ids), labels

    return batches.enumerate().map(replace)
