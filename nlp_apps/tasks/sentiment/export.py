"""What the sentiment task exports: the string-in SavedModel module and the fixed-shape TFLite function.

`SentimentTask` (task.py) runs them through the shared export loop of `Task.export`.
"""

import numpy as np
import tensorflow as tf

from nlp_apps.export.verify import EDGE_CASE_TEXTS

VERIFICATION_TEXTS = [
    "A wonderful film. The music is lovely and the photography is stunning!",
    "I would never watch it again.<br /><br />A tedious waste of two hours... Avoid it.",
    "<b>bold</b> & \"quoted\"?",
    *EDGE_CASE_TEXTS,
]
# TFLite shapes when the config sets no truncation limits.
DEFAULT_TFLITE_SENTENCES = 32
DEFAULT_TFLITE_WORDS = 64


class SentimentServingModule(tf.Module):
    """`serving_default`: raw strings in; class probabilities, label and attention maps out.

    Outputs (batch first; S and W are the batch's sentence and word counts
    after truncation, at least 1):
      - `probabilities` float32 (batch, classes), in `label_names` order;
      - `label` string (batch,), `label_id` int32 (batch,);
      - `word_attention` float32 (batch, S, W), `sentence_attention` (batch, S);
      - `words` string (batch, S, W) and `sentences` string (batch, S), the
        text the weights belong to, padded with "" (for rendering highlights).
    Sentence splitting, tokenization, lookup and the model all run in the graph.
    """

    def __init__(self, model, preprocessor, label_names):
        super().__init__()
        self.model = model
        self.preprocessor = preprocessor
        self.label_names = tf.constant(label_names)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="texts")])
    def serving_default(self, texts):
        pieces = self.preprocessor(texts)
        token_ids = pieces["token_ids"]
        outputs = self.model.predict_with_attention(token_ids)
        label_id = tf.argmax(outputs["probabilities"], axis=-1, output_type=tf.int32)
        shape = tf.shape(token_ids, out_type=tf.int64)
        return {
            "probabilities": outputs["probabilities"],
            "label": tf.gather(self.label_names, label_id),
            "label_id": label_id,
            "word_attention": outputs["word_attention"],
            "sentence_attention": outputs["sentence_attention"],
            "words": pieces["words"].to_tensor(default_value="", shape=shape),
            "sentences": pieces["sentences"].to_tensor(default_value="", shape=shape[:2]),
        }


def tflite_shape(preprocessor) -> tuple[int, int]:
    """(sentences, words) of the TFLite input: the preprocessor's truncation limits, or defaults."""
    return (
        preprocessor.max_sentences or DEFAULT_TFLITE_SENTENCES,
        preprocessor.max_words_per_sentence or DEFAULT_TFLITE_WORDS,
    )


def tflite_function(model, num_sentences: int, num_words: int):
    """Token ids (1, sentences, words) in (pad with 0), probabilities and attention maps out.

    Fixed shapes let the converter lower the recurrent layers to builtin ops
    (WHILE loops, no Flex delegate); splitting and lookup happen in the app.
    """

    @tf.function(input_signature=[tf.TensorSpec([1, num_sentences, num_words], tf.int32, name="token_ids")])
    def classify(token_ids):
        return model.predict_with_attention(token_ids)

    return classify


def fixed_size_ids(preprocessor, texts, num_sentences: int, num_words: int) -> np.ndarray:
    """Token ids of `texts`, truncated / padded with 0 to (len(texts), sentences, words)."""
    ids = preprocessor(tf.constant(texts))["token_ids"].numpy()[:, :num_sentences, :num_words]
    return np.pad(ids, [(0, 0), (0, num_sentences - ids.shape[1]), (0, num_words - ids.shape[2])]).astype(np.int32)
