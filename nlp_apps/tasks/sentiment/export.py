"""What the sentiment task exports: the string-in SavedModel module and the dynamic-shape TFLite function.

`SentimentTask` (task.py) runs them through the shared export loop of `Task.export`.
"""

import numpy as np
import tensorflow as tf

from nlp_apps.export.input_guard import guard_texts

from nlp_apps.export.verify import EDGE_CASE_TEXTS

VERIFICATION_TEXTS = [
    "A wonderful film. The music is lovely and the photography is stunning!",
    "I would never watch it again.<br /><br />A tedious waste of two hours... Avoid it.",
    "<b>bold</b> & \"quoted\"?",
    *EDGE_CASE_TEXTS,
]


class SentimentServingModule(tf.Module):
    """`serving_default`: raw strings in; class probabilities, label and attention maps out.

    Outputs (batch first; S and W are the batch's sentence and word counts
    after truncation, at least 1):
      - `probabilities` float32 (batch, classes), in `label_names` order;
      - `label` string (batch,), `label_id` int32 (batch,);
      - `word_attention` float32 (batch, S, W), `sentence_attention` (batch, S);
      - `words` string (batch, S, W) and `sentences` string (batch, S), the
        text the weights belong to, padded with "" (for rendering highlights).
      - `truncated` bool (batch,): the text was cut to `max_input_chars`;
      - `empty` bool (batch,): the text has no words; its result is neutral
        and says so: uniform probabilities, `label` "" and `label_id` -1
        (a model's guess on nothing was a confident-looking 0.51 "pos").
    Sentence splitting, tokenization, lookup and the model all run in the graph.
    """

    def __init__(self, model, preprocessor, label_names, max_input_chars):
        super().__init__()
        self.model = model
        self.preprocessor = preprocessor
        self.label_names = tf.constant(label_names)
        self.max_input_chars = int(max_input_chars)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="texts")])
    def serving_default(self, texts):
        texts, truncated, empty = guard_texts(texts, self.max_input_chars)
        pieces = self.preprocessor(texts)
        token_ids = pieces["token_ids"]
        outputs = self.model.predict_with_attention(token_ids)
        # No words (empty, whitespace, punctuation only): the neutral result, not the model's guess.
        empty = empty | tf.equal(tf.reduce_sum(tf.cast(token_ids > 0, tf.int32), axis=[1, 2]), 0)
        num_classes = tf.shape(outputs["probabilities"])[-1]
        uniform = tf.fill(tf.shape(outputs["probabilities"]), 1.0 / tf.cast(num_classes, tf.float32))
        probabilities = tf.where(empty[:, None], uniform, outputs["probabilities"])
        label_id = tf.where(empty, -1, tf.argmax(outputs["probabilities"], axis=-1, output_type=tf.int32))
        shape = tf.shape(token_ids, out_type=tf.int64)
        return {
            "probabilities": probabilities,
            "label": tf.where(empty, "", tf.gather(self.label_names, tf.maximum(label_id, 0))),
            "label_id": label_id,
            "truncated": truncated,
            "empty": empty,
            "word_attention": outputs["word_attention"],
            "sentence_attention": outputs["sentence_attention"],
            "words": pieces["words"].to_tensor(default_value="", shape=shape),
            "sentences": pieces["sentences"].to_tensor(default_value="", shape=shape[:2]),
        }


def tflite_function(model):
    """Token ids of one document (1, sentences, words) in, probabilities and attention maps out.

    Both axes are dynamic: feed the document's own ids (`document_ids`),
    padded only to its longest sentence. Traced under `mobile_rnn_kernels`
    (the shared TFLite export does this), every op is a builtin: LSTMs over a
    static batch (the sentence encoder) become fused ops, the word encoder
    (a batch of sentences) and GRUs run as dynamic-length loops.
    Splitting and lookup happen in the app.
    """

    @tf.function(input_signature=[tf.TensorSpec([1, None, None], tf.int32, name="token_ids")])
    def classify(token_ids):
        return model.predict_with_attention(token_ids)

    return classify


def document_ids(preprocessor, text: str) -> np.ndarray:
    """The TFLite model's input for one document: int32 (1, sentences, longest sentence), 0 = padding."""
    return preprocessor(tf.constant([text]))["token_ids"].numpy().astype(np.int32)
