"""What the translation task exports: a string-to-string SavedModel module and a dynamic-length TFLite function.

`TranslationTask` (task.py) runs them through the shared export loop of `Task.export`.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from nlp_apps.export.verify import EDGE_CASE_TEXTS

from nlp_apps.tasks.translation.inference import TranslationInference

VERIFICATION_TEXTS = [
    "A man is riding a bicycle.",
    *EDGE_CASE_TEXTS,
    " ".join(["word"] * 500),
]
# TFLite takes one sentence of at most this many source pieces (longer input is
# cut) and returns at most TFLITE_MAX_TARGET pieces.
TFLITE_MAX_SOURCE = 64
TFLITE_MAX_TARGET = 80


class TranslationServing(TranslationInference):
    """SavedModel endpoints (raw strings in and out; search options fixed at export time).

    * `translate(text: string[batch])` → `translation` string `(batch,)`,
      `score` float32 `(batch,)`, `ids` int32 `(batch, L)`, `attention`
      float32 `(batch, L, S)`: beam search with the configured beam size and
      length penalty. Also the default signature.
    * `translate_greedy(text)`: the same outputs with greedy search (faster).
    """

    def __init__(self, model, preprocessor, max_decode_length=0, beam_size=5, length_penalty=0.6):
        super().__init__(model, preprocessor, max_decode_length)
        self.beam_size = int(beam_size)
        self.length_penalty = float(length_penalty)

    def _outputs(self, text, **options):
        outputs = self.translate(text, **options)
        return {"translation": outputs["translations"], "score": outputs["scores"], "ids": outputs["ids"], "attention": outputs["attention"]}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def translate_signature(self, text):
        method = "greedy" if self.beam_size == 1 else "beam"
        return self._outputs(text, beam_size=self.beam_size, length_penalty=self.length_penalty, method=method)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def translate_greedy_signature(self, text):
        return self._outputs(text, beam_size=1, method="greedy")


def tflite_translate_function(inference: TranslationInference, max_source: int = TFLITE_MAX_SOURCE, max_target: int = TFLITE_MAX_TARGET):
    """Greedy translation of one sentence, for mobile; any source length up to `max_source`.

    Input `source_ids` int32 `(1, n)`: the source SentencePiece ids followed
    by `</s>` (3), unpadded (the app tokenizes with `assets/source.model`;
    `source_ids_for` does it here); longer inputs are cut to `max_source`
    pieces in the graph. Output `ids` int32 `(1, m)`, m <= `max_target`:
    the target pieces up to and including `</s>`; the app detokenizes with
    `assets/target.model`. (The tensorflow-text SentencePiece detokenize
    kernel does not run in LiteRT, see `SubwordTokenizer`, so both ends stay
    in the app.) The encoder's final states feed the decoder, so its LSTMs
    run as dynamic-length loops (the fused op cannot return its cell state);
    the decoder is the greedy loop itself.
    """

    @tf.function(input_signature=[tf.TensorSpec([1, None], tf.int32, name="source_ids")])
    def translate(source_ids):
        source_ids = source_ids[:, :max_source]
        outputs = inference.model.translate_ids(source_ids, max_length=tf.constant(max_target), beam_size=1, method="greedy")
        return {"ids": outputs["ids"][:, :max_target]}

    return translate


def tflite_source_ids(inference: TranslationInference, text: str, max_source: int = TFLITE_MAX_SOURCE) -> np.ndarray:
    """The TFLite model's input for `text`: int32 (1, n), its pieces and `</s>`, at most `max_source`."""
    ids = inference.preprocessor.encode_source(tf.constant([text])).to_tensor().numpy()[:, :max_source]
    ids[0, -1] = 3 if ids.shape[1] == max_source else ids[0, -1]  # a cut sentence still ends with </s>
    return ids.astype(np.int32)
