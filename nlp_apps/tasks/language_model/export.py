"""What the language-model task exports: a SavedModel with `generate` and `score`, and a TFLite step function.

`LanguageModelTask` (task.py) runs them through the shared export loop of `Task.export`.
"""

import numpy as np
import tensorflow as tf

from nlp_apps.export.input_guard import guard_texts
from nlp_apps.export.verify import EDGE_CASE_TEXTS

from nlp_apps.tasks.language_model.inference import LanguageModelInference

VERIFICATION_TEXTS = ["the old sailor", *EDGE_CASE_TEXTS, "unknownword"]
GENERATE_ARGUMENTS = {"max_length": 20, "temperature": 0.8, "top_k": 10, "top_p": 0.95, "seed": 7}


class LanguageModelServing(LanguageModelInference):
    """SavedModel endpoints (see `LanguageModelInference` for the contracts).

    * `generate(prompt: string[batch], max_length: int32, temperature:
      float32, top_k: int32, top_p: float32, seed: int64)` → `text`,
      `token_ids`.
    * `score(text: string[batch])` → `log_probability`, `perplexity`,
      `num_tokens`, `empty`.

    Both also return `truncated` bool `(batch,)`: the text was cut to
    `max_input_chars` characters (`guard_texts`). An empty prompt is a
    valid one (generation from the start of a text).
    """

    max_input_chars = 20000

    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.string, name="prompt"),
            tf.TensorSpec([], tf.int32, name="max_length"),
            tf.TensorSpec([], tf.float32, name="temperature"),
            tf.TensorSpec([], tf.int32, name="top_k"),
            tf.TensorSpec([], tf.float32, name="top_p"),
            tf.TensorSpec([], tf.int64, name="seed"),
        ]
    )
    def generate_signature(self, prompt, max_length, temperature, top_k, top_p, seed):
        prompt, truncated, _ = guard_texts(prompt, self.max_input_chars)
        return {**self.generate(prompt, max_length, temperature, top_k, top_p, seed), "truncated": truncated}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def score_signature(self, text):
        text, truncated, empty = guard_texts(text, self.max_input_chars)
        return {**self.score(text), "truncated": truncated, "empty": empty}


SUGGESTIONS = 5


def tflite_step_function(model, vocabulary, suggestions: int = SUGGESTIONS):
    """One step for on-device next-word suggestion: batch 1, states in and out.

    Inputs `token_id` int32 `(1, 1)` and `state_<i>` float32 `(1, units)`
    (the encoder states, `RNNStack` layout; zeros at the start of a text).
    Outputs `logits` float32 `(1, vocabulary_size)`, `next_token` int32
    `(1,)` (the most likely token), the `suggestions` most likely next tokens
    `top_ids` int32 `(1, k)`, their `top_probabilities` float32 `(1, k)` and
    `top_words` string `(1, k)` (the vocabulary entries), and the new
    `state_<i>`. Traced under `mobile_rnn_kernels`, the one step is a direct
    cell call: no loop. The app tokenizes (vocabulary / alphabet /
    SentencePiece model from `assets/`), starts from the start id and feeds
    the states back.
    """
    sizes = model.state_sizes
    signature = [tf.TensorSpec([1, 1], tf.int32, name="token_id")]
    signature += [tf.TensorSpec([1, size], tf.float32, name=f"state_{index}") for index, size in enumerate(sizes)]
    words = tf.constant(list(vocabulary))
    count = min(int(suggestions), len(vocabulary))

    @tf.function(input_signature=signature)
    def step(token_id, *states):
        logits, new_states = model.call_with_state(token_id, initial_state=list(states), training=False)
        logits = tf.cast(logits[:, 0], tf.float32)
        top = tf.math.top_k(tf.nn.softmax(logits, axis=-1), k=count)
        outputs = {
            "logits": logits,
            "next_token": tf.argmax(logits, axis=-1, output_type=tf.int32),
            "top_ids": top.indices,
            "top_probabilities": top.values,
            "top_words": tf.gather(words, top.indices),
        }
        outputs.update({f"state_{index}": state for index, state in enumerate(new_states)})
        return outputs

    return step


def step_inputs(model, preprocessor, text):
    """Inputs of the step function after reading `text` (start id + tokens but the last)."""
    ids = [preprocessor.start_id] + preprocessor.tokenize(tf.constant([text])).flat_values.numpy().tolist()
    states = model.zero_state(1)
    if len(ids) > 1:
        _, states = model.call_with_state(tf.constant([ids[:-1]], tf.int32), training=False)
    inputs = {"token_id": np.array([[ids[-1]]], np.int32)}
    inputs.update({f"state_{index}": np.asarray(state, np.float32) for index, state in enumerate(states)})
    return inputs
