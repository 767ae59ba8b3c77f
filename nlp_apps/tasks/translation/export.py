"""What the translation task exports: a string-to-string SavedModel module and the TFLite functions.

TFLite: one greedy translator (`tflite_translate_function`) and an encoder +
decoder-step pair for searches run by the app (`tflite_encoder_function`,
`tflite_decoder_step_function`).

`TranslationTask` (task.py) runs them through the shared export loop of `Task.export`.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from nlp_apps.export.input_guard import guard_texts
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
      float32 `(batch, L, S)`, `target_pieces` string `(batch, L)` and
      `source_pieces` string `(batch, S)` (the SentencePiece pieces on the
      attention's axes, `</s>` included on the source side; "" = padding):
      beam search with the configured beam size and length penalty. Also the
      default signature.
    * `translate_greedy(text)`: the same outputs with greedy search (faster).

    Both also return `truncated` bool `(batch,)` (the text was cut to
    `max_input_chars` characters, or its pieces to the model's source
    length) and `empty` bool `(batch,)`: an empty or whitespace-only text
    translates to "" with score 0 (the model's guess on nothing was a
    fluent sentence that was never there).
    """

    def __init__(self, model, preprocessor, max_decode_length=0, beam_size=5, length_penalty=0.6, max_input_chars=2000):
        super().__init__(model, preprocessor, max_decode_length)
        self.beam_size = int(beam_size)
        self.length_penalty = float(length_penalty)
        self.max_input_chars = int(max_input_chars)

    def _outputs(self, text, **options):
        text, truncated, empty = guard_texts(text, self.max_input_chars)
        truncated |= self.preprocessor.source_tokenizer(text).row_lengths() > self.preprocessor.max_length - 1
        outputs = self.translate(text, **options)
        # The pieces label the attention's axes (a heat-map needs no tokenizer on the client).
        source_ids = self.source_ids(text)
        ids = tf.where(empty[:, None], tf.zeros_like(outputs["ids"]), outputs["ids"])
        return {
            "translation": tf.where(empty, "", outputs["translations"]),
            "score": tf.where(empty, tf.zeros_like(outputs["scores"]), outputs["scores"]),
            "ids": ids,
            "attention": tf.where(empty[:, None, None], tf.zeros_like(outputs["attention"]), outputs["attention"]),
            "source_pieces": _pieces(self.preprocessor.source_tokenizer, source_ids),
            "target_pieces": _pieces(self.preprocessor.target_tokenizer, ids),
            "truncated": truncated,
            "empty": empty,
        }

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def translate_signature(self, text):
        method = "greedy" if self.beam_size == 1 else "beam"
        return self._outputs(text, beam_size=self.beam_size, length_penalty=self.length_penalty, method=method)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def translate_greedy_signature(self, text):
        return self._outputs(text, beam_size=1, method="greedy")


def _pieces(tokenizer, ids):
    """Ids `(batch, n)` 0-padded → their pieces, "" where padded."""
    vocabulary = tf.constant(tokenizer.get_vocabulary())
    return tf.where(ids > 0, tf.gather(vocabulary, ids), "")


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


def tflite_encoder_function(inference: TranslationInference, max_source: int = TFLITE_MAX_SOURCE):
    """The encoder half of the on-device pair an app runs its own search around (beam search).

    Input `source_ids` int32 `(1, n)` as for `tflite_translate_function`.
    Outputs `memory` float32 `(1, n, d)`, the attention `keys` `(1, n, k)`
    (computed once per sentence) and the decoder's initial `state_<i>`
    `(1, units)` (`decoder.num_states` of them). Feed them, with `<s>` (2)
    as the first token, to `tflite_decoder_step_function`'s model.
    """
    model = inference.model

    @tf.function(input_signature=[tf.TensorSpec([1, None], tf.int32, name="source_ids")])
    def encode(source_ids):
        memory, _, states = model.encode(source_ids[:, :max_source], training=False)
        outputs = {"memory": tf.cast(memory, tf.float32), "keys": tf.cast(model.decoder.precompute_keys(memory), tf.float32)}
        outputs.update({f"state_{index}": tf.cast(state, tf.float32) for index, state in enumerate(states)})
        return outputs

    return encode


def tflite_decoder_step_function(inference: TranslationInference):
    """One decoder step with explicit state: `token_id` int32 `(1,)`, `memory`, `keys` and `state_<i>` in.

    Outputs `log_probabilities` float32 `(1, target_vocabulary)` of the next
    piece, `attention` `(1, n)` over the source pieces, and the new
    `state_<i>`. A beam of width B runs B of these per step (or the app
    batches them); `</s>` (3) ends a hypothesis.
    """
    model = inference.model
    decoder = model.decoder
    memory_size, keys_size = model.encoder.output_dim, _keys_size(model)
    signature = [
        tf.TensorSpec([1], tf.int32, name="token_id"),
        tf.TensorSpec([1, None, memory_size], tf.float32, name="memory"),
        tf.TensorSpec([1, None, keys_size], tf.float32, name="keys"),
    ]
    signature += [tf.TensorSpec([1, size], tf.float32, name=f"state_{index}") for index, size in enumerate(decoder.state_sizes)]

    @tf.function(input_signature=signature)
    def step(token_id, memory, keys, *states):
        logits, new_states, weights = decoder.step(token_id, list(states), memory, None, keys)
        outputs = {"log_probabilities": tf.nn.log_softmax(tf.cast(logits, tf.float32), axis=-1), "attention": tf.cast(weights, tf.float32)}
        outputs.update({f"state_{index}": tf.cast(state, tf.float32) for index, state in enumerate(new_states)})
        return outputs

    return step


def _keys_size(model) -> int:
    probe = tf.zeros([1, 1, model.encoder.output_dim])
    return int(model.decoder.precompute_keys(probe).shape[-1])


def greedy_with_step_models(encode, step, source_ids, max_target: int = TFLITE_MAX_TARGET, bos_id: int = 2, eos_id: int = 3):
    """Greedy search driven from outside, as an app would: `encode` / `step` are callables on dicts of arrays.

    Returns the target ids up to and including `</s>` (or `max_target` of
    them), the same ids `tflite_translate_function` returns.
    """
    encoded = encode(source_ids=source_ids)
    states = {name: value for name, value in encoded.items() if name.startswith("state_")}
    token, ids = bos_id, []
    for _ in range(max_target):
        outputs = step(token_id=np.array([token], np.int32), memory=encoded["memory"], keys=encoded["keys"], **states)
        token = int(np.argmax(outputs["log_probabilities"][0]))
        ids.append(token)
        states = {name: outputs[name] for name in states}
        if token == eos_id:
            break
    return np.array([ids], np.int32)


def tflite_source_ids(inference: TranslationInference, text: str, max_source: int = TFLITE_MAX_SOURCE) -> np.ndarray:
    """The TFLite model's input for `text`: int32 (1, n), its pieces and `</s>`, at most `max_source`."""
    ids = inference.preprocessor.encode_source(tf.constant([text])).to_tensor().numpy()[:, :max_source]
    ids[0, -1] = 3 if ids.shape[1] == max_source else ids[0, -1]  # a cut sentence still ends with </s>
    return ids.astype(np.int32)
