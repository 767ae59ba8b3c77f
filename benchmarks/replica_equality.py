"""One training step on 2 logical CPUs under MirroredStrategy against the same step on one device, per task model.

Prints one JSON line: per model the two losses, the largest weight
difference after the step and the largest update. Run in a fresh process
(logical devices must be set before TensorFlow initializes); used by
`tests/training/test_distribution.py` and `benchmarks/reliability.py`.

    python benchmarks/replica_equality.py
"""
import json, os
os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
import numpy as np
from nlp_apps.encoders.rnn_encoder import RNNEncoder
from nlp_apps.layers.crf_constraints import allowed_transitions
from nlp_apps.tasks.language_model.model import LanguageModel
from nlp_apps.decoders.attention_decoder import AttentionDecoder
from nlp_apps.tasks.ner.model import SequenceTagger
from nlp_apps.tasks.sentiment.model import SentimentClassifier
from nlp_apps.config import TrainConfig
from nlp_apps.training.optimizers import build_optimizer
from nlp_apps.tasks.translation.model import Translator

TAGS = ["O", "B-PER", "I-PER"]
rng = np.random.default_rng(0)
token_ids = rng.integers(2, 20, size=(4, 5)).astype("int32")
tags = rng.integers(0, 2, size=(4, 5)).astype("int32")


def tagger():
    allowed, start, end = allowed_transitions(TAGS, "iob2")
    encoder = RNNEncoder(vocabulary_size=20, embedding_dim=8, units=6, bidirectional=True)
    return SequenceTagger(encoder, num_tags=3, allowed_transitions=allowed, allowed_start=start, allowed_end=end)


def language_model():
    return LanguageModel(RNNEncoder(vocabulary_size=20, embedding_dim=8, units=6, bidirectional=False, return_state=True))


def translator():
    encoder = RNNEncoder(20, 5, units=4, bidirectional=True, return_state=True)
    return Translator(encoder, AttentionDecoder(20, 5, 6), label_smoothing=0.1)


def sentiment():
    encoder = RNNEncoder(vocabulary_size=20, embedding_dim=8, units=6, bidirectional=True)
    return SentimentClassifier(encoder, num_classes=2, hierarchical=True, sentence_units=6, sentence_cell_type="lstm",
                               sentence_bidirectional=True, attention_units=8, dropout=0.0)


def one_step(make, inputs, targets, strategy, loss=None, clip=None):
    keras.utils.set_random_seed(7)
    with strategy.scope():
        model = make()
        model(inputs)
        if clip is None:
            # Plain SGD, and clipping loose enough never to act: the update is the gradient itself.
            optimizer = keras.optimizers.SGD(0.5, clipnorm=1e6)
        else:
            # The project's optimizer with a global-norm clip that acts: it must see the summed gradient.
            name = "default" if strategy is tf.distribute.get_strategy() else "mirrored"
            optimizer = build_optimizer(TrainConfig(optimizer="sgd", learning_rate=0.5, clipnorm=clip, distribution_strategy=name))
        model.compile(optimizer=optimizer, loss=loss)
    dataset = tf.data.Dataset.from_tensor_slices((inputs, targets)).batch(4)
    history = model.fit(dataset, epochs=1, verbose=0, shuffle=False)
    return history.history["loss"][0], [np.asarray(w).tolist() for w in model.trainable_weights]


mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
result = {"replicas": mirrored.num_replicas_in_sync}
documents = rng.integers(2, 20, size=(4, 2, 5)).astype("int32")
labels = np.array([0, 1, 1, 0], "int32")
# Sentiment trains with a Keras Loss (Keras scales it itself): the control for the three hand-written losses.
sentiment_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
for name, make, inputs, targets, loss, clip in (
    ("tagger", tagger, {"token_ids": token_ids}, tags, None, None),
    ("language_model", language_model, token_ids[:, :-1], token_ids[:, 1:], None, None),
    ("translator", translator, {"source_ids": token_ids, "target_in_ids": token_ids[:, :-1]}, token_ids[:, 1:], None, None),
    ("sentiment", sentiment, documents, labels, sentiment_loss, None),
    ("tagger_clipped", tagger, {"token_ids": token_ids}, tags, None, 0.05),
):
    single_loss, single_weights = one_step(make, inputs, targets, tf.distribute.get_strategy(), loss, clip)
    mirrored_loss, mirrored_weights = one_step(make, inputs, targets, mirrored, loss, clip)
    result[name] = {
        "single_loss": single_loss,
        "mirrored_loss": mirrored_loss,
        "max_weight_diff": max(float(np.max(np.abs(np.subtract(a, b)))) for a, b in zip(single_weights, mirrored_weights)),
        "max_update": max(float(np.max(np.abs(np.asarray(a)))) for a in single_weights),
    }
print(json.dumps(result))
