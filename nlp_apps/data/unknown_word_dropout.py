"""Word dropout to `[UNK]` as a tf.data map, so the `[UNK]` embedding is trained for the unknown words met at test time."""

import tensorflow as tf

UNKNOWN_ID = 1


def replace_with_unknown(probability: float, seed: int, key: str | None = None):
    """A tf.data map over `(inputs, labels)` that swaps real token ids (> 1) for `[UNK]` (id 1) at random.

    `inputs` is the id tensor itself, or a dict whose `key` entry is (the
    other features, e.g. characters, stay as they are). Padding (0) and
    `[UNK]` are never touched.
    """
    generator = tf.random.Generator.from_seed(seed)

    def replace(inputs, labels):
        token_ids = inputs[key] if key else inputs
        drop = (generator.uniform(tf.shape(token_ids)) < probability) & (token_ids > UNKNOWN_ID)
        token_ids = tf.where(drop, tf.fill(tf.shape(token_ids), tf.constant(UNKNOWN_ID, token_ids.dtype)), token_ids)
        return (dict(inputs, **{key: token_ids}) if key else token_ids), labels

    return replace
