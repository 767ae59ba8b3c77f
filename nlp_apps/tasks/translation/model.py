"""RNN encoder-decoder translation model with attention and in-graph search."""

import keras
import tensorflow as tf
from keras import ops

from nlp_apps.decoders.attention_decoder import AttentionDecoder
from nlp_apps.decoders.beam_search import beam_search, greedy_search, sample_search
from nlp_apps.training.distribution import scale_loss_for_replicas
from nlp_apps.encoders.serialization import InjectedLayersSerialization

SOURCE_IDS = "source_ids"
TARGET_IN_IDS = "target_in_ids"
SEARCH_METHODS = ("beam", "greedy", "sample")


def label_smoothed_token_losses(targets, logits, label_smoothing=0.0):
    """Per-token cross-entropy with label smoothing, and the real-token weights.

    The smoothed target puts `1 - label_smoothing` on the reference token and
    spreads `label_smoothing` uniformly over the vocabulary (as
    `keras.losses.CategoricalCrossentropy(label_smoothing=...)`). Returns
    `(losses, weights)`, float32 `(batch, time)`; target id 0 is padding and
    gets weight 0 (and loss 0).
    """
    targets = ops.cast(targets, "int32")
    logits = ops.cast(logits, "float32")
    # Written with log-sum-exp instead of a (batch, time, vocabulary) log-softmax:
    # -log p(y) = lse - z_y and -mean(log p) = lse - mean(z). Two reductions over the
    # vocabulary instead of a full extra tensor made training ~15% faster on CPU.
    log_normalizer = ops.logsumexp(logits, axis=-1)
    target_logits = ops.squeeze(ops.take_along_axis(logits, targets[..., None], axis=-1), axis=-1)
    losses = log_normalizer - target_logits
    if label_smoothing:
        losses = log_normalizer - (1.0 - label_smoothing) * target_logits - label_smoothing * ops.mean(logits, axis=-1)
    weights = ops.cast(ops.not_equal(targets, 0), "float32")
    return losses * weights, weights


@keras.saving.register_keras_serializable(package="nlp_apps")
class Translator(InjectedLayersSerialization, keras.Model):
    """Encoder-decoder with attention: an `RNNEncoder` and an `AttentionDecoder`.

    Inputs of `call`: a dict with `"source_ids"` int `(batch, source_time)`
    and `"target_in_ids"` int `(batch, target_time)` (the target starting with
    bos, without eos); 0 = padding, on the right. Output: float32 logits
    `(batch, target_time, target_vocabulary_size)`. Source padding is masked
    in the encoder and in attention (weight exactly 0); target padding is
    ignored by the loss.

    Training (`fit(x, y)` with `y` = target_out_ids, the target without bos,
    with eos) minimises the token-level cross-entropy with label smoothing,
    averaged over the real (non-0) target tokens. `compile()` needs no loss.

    The decoder starts from the encoder's final states through a bridge: for
    each decoder layer `i`, the final states of encoder layer `i` (or of the
    top encoder layer when the encoder has fewer layers) — for a
    bidirectional encoder the forward and backward ones, concatenated — go
    through `Dense(tanh)` to the decoder layer's states (`[h, c]` or `[h]`).
    The input-feeding vector starts at zero.

    Inference (all traceable in a `tf.function` with unknown batch size):
    `encode`, `translate_ids` (beam, greedy or sampling search, see
    `nlp_apps.decoders.beam_search`) and `attention_for`.

    Args:
        encoder: an `RNNEncoder` built with `return_state=True`, taking plain
            token ids (no character or casing features).
        decoder: an `AttentionDecoder`.
        label_smoothing: float in [0, 1).
        bos_id, eos_id: target start / end ids (sentencepiece convention:
            0 pad, 1 unk, 2 <s>, 3 </s>).
    """

    injected_layers = ("encoder", "decoder")

    config_arguments = ("label_smoothing", "bos_id", "eos_id")

    def __init__(self, encoder, decoder, label_smoothing=0.1, bos_id=2, eos_id=3, **kwargs):
        super().__init__(**kwargs)
        if not getattr(encoder, "return_state", False):
            raise ValueError("encoder: build it with return_state=True (build_rnn_encoder(..., return_state=True))")
        if getattr(encoder, "char_embedding", None) is not None or getattr(encoder, "case_embedding", None) is not None:
            raise ValueError("encoder: the translator feeds plain token ids; disable character and casing features")
        if not isinstance(decoder, AttentionDecoder):
            raise ValueError(f"decoder: expected an AttentionDecoder, got {type(decoder).__name__}")
        if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float)) or not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing: expected a value in [0, 1), got {label_smoothing!r}")
        for name, value in (("bos_id", bos_id), ("eos_id", eos_id)):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < decoder.vocabulary_size:
                raise ValueError(f"{name}: expected an id in [1, {decoder.vocabulary_size}), got {value!r}")
        if bos_id == eos_id:
            raise ValueError(f"eos_id: must differ from bos_id ({bos_id})")
        if decoder.attention == "luong_dot" and encoder.output_dim != decoder.units:
            raise ValueError(
                f"decoder.attention: 'luong_dot' needs the encoder output size ({encoder.output_dim}) to equal "
                f"decoder.units ({decoder.units}); use 'luong_general' or 'bahdanau'"
            )
        self.encoder = encoder
        self.decoder = decoder
        self.label_smoothing = float(label_smoothing)
        self.bos_id = bos_id
        self.eos_id = eos_id
        self.bridges = [
            keras.layers.Dense(
                decoder.units * decoder.states_per_layer, activation="tanh", dtype=self.dtype_policy, name=f"bridge_{index}"
            )
            for index in range(decoder.num_layers)
        ]

    # ------------------------------------------------------------------ build

    def build(self, input_shape=None):
        if not self.encoder.built:
            self.encoder.build((None, None))
        if not self.decoder.built:
            self.decoder.build((None, None), (None, None, self.encoder.output_dim))
        stack = self.encoder.rnn_stack
        for bridge in self.bridges:
            bridge.build((None, stack.units * stack.states_per_layer))
        self.built = True

    # Everything needed to build comes from the configuration.
    def get_build_config(self):
        return {"input_shape": None} if self.built else None

    def build_from_config(self, config):
        if config:
            self.build()

    # --------------------------------------------------------------- encoding

    def _bridge(self, encoder_states):
        stack = self.encoder.rnn_stack
        per_encoder_layer = stack.states_per_layer
        per_decoder_layer = self.decoder.states_per_layer
        layer_states = []
        for index, bridge in enumerate(self.bridges):
            source_layer = min(index, stack.num_layers - 1)
            states = encoder_states[source_layer * per_encoder_layer : (source_layer + 1) * per_encoder_layer]
            bridged = bridge(ops.concatenate(list(states), axis=-1) if len(states) > 1 else states[0])
            layer_states.extend(ops.split(bridged, per_decoder_layer, axis=-1))
        return layer_states

    def encode(self, source_ids, training=False):
        """Returns `(memory, memory_mask, decoder_initial_states)` for int `source_ids` `(batch, source_time)`.

        `memory` is `(batch, source_time, encoder.output_dim)`, `memory_mask`
        bool `(batch, source_time)`, the states a flat list (see
        `AttentionDecoder`). An all-padding row gives zero memory, an all-False
        mask and the bridge of zero encoder states.
        """
        source_ids = ops.cast(source_ids, "int32")
        memory, encoder_states = self.encoder(source_ids, training=training)
        memory_mask = ops.not_equal(source_ids, 0)
        initial_states = self.decoder.initial_states(ops.shape(source_ids)[0], self._bridge(list(encoder_states)))
        return memory, memory_mask, initial_states

    def call(self, inputs, training=None):
        memory, memory_mask, initial_states = self.encode(inputs[SOURCE_IDS], training=training)
        target_in_ids = ops.cast(inputs[TARGET_IN_IDS], "int32")
        logits, _ = self.decoder(target_in_ids, memory, memory_mask, initial_states, training=training)
        return logits

    def attention_for(self, source_ids, target_in_ids):
        """Teacher-forced attention weights `(batch, target_time, source_time)`."""
        memory, memory_mask, initial_states = self.encode(source_ids, training=False)
        _, weights = self.decoder(ops.cast(target_in_ids, "int32"), memory, memory_mask, initial_states, training=False)
        return weights

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        losses, weights = label_smoothed_token_losses(y, y_pred, self.label_smoothing)
        if sample_weight is not None:
            sample_weight = ops.cast(sample_weight, "float32")
            if len(sample_weight.shape) == 1:
                sample_weight = sample_weight[:, None]
            weights = weights * sample_weight
        loss = ops.sum(losses * weights) / ops.maximum(ops.sum(weights), 1.0)
        if self.losses:
            loss = loss + ops.sum(self.losses)
        # Per-replica mean: scaled like Keras' own losses under tf.distribute.
        return scale_loss_for_replicas(loss)

    # -------------------------------------------------------------- inference

    def translate_ids(
        self,
        source_ids,
        max_length,
        beam_size=5,
        length_penalty=0.6,
        method="beam",
        temperature=1.0,
        top_k=0,
        top_p=1.0,
        seed=0,
        row_max_lengths=None,
        projection_dtype="float32",
    ):
        """Translates a batch of source ids inside the graph.

        Args:
            source_ids: int `(batch, source_time)`, 0 = padding.
            max_length: int or int32 scalar tensor; most tokens generated
                (eos included), so outputs have at most `max_length` ids.
            beam_size: Python int, for `method="beam"`.
            length_penalty: GNMT alpha for the scores (and, for beam search,
                the final ranking); 0 = summed log-probability.
            method: "beam", "greedy" or "sample" (Python string).
            temperature, top_k, top_p, seed: for `method="sample"` (see
                `nlp_apps.decoders.sampling.sample_next_token`).
            row_max_lengths: optional int `(batch,)`: each sentence's own
                limit; after that many tokens only eos may follow, so a
                sentence translates the same whatever else is in its batch.
                `max_length` must then exceed the largest of them.
            projection_dtype: "float32" (exact) or "bfloat16" for the output
                projection, the largest matrix product of a step (see
                `AttentionDecoder.output_projection`).

        Returns:
            dict with `"ids"` int32 `(batch, L)` (best hypothesis, without
            bos/eos, 0-padded, `L <= max_length`), `"scores"` float32
            `(batch,)` and `"attention"` float32 `(batch, L, source_time)`.
        """
        if method not in SEARCH_METHODS:
            raise ValueError(f"method: unknown {method!r}; choose one of {', '.join(SEARCH_METHODS)}")
        source_ids = tf.cast(source_ids, tf.int32)
        batch_size = tf.shape(source_ids)[0]
        memory, memory_mask, initial_states = self.encode(source_ids, training=False)
        limits = None
        if row_max_lengths is not None:
            limits = tf.cast(tf.reshape(row_max_lengths, [-1]), tf.float32)
            # Tokens generated so far, carried as one more state so beams reorder it too.
            initial_states = list(initial_states) + [tf.zeros([batch_size, 1], tf.float32)]
        keys = self.decoder.precompute_keys(memory)
        # Loop invariant: prepared once here, read by every step.
        output_projection = self.decoder.output_projection(projection_dtype)
        # Per-row tensors the step reads; beam search drops the rows of done
        # sentences from them (dot attention's keys are the memory itself).
        context = {"memory": memory, "memory_mask": memory_mask}
        if keys is not memory:
            context["keys"] = keys
        if limits is not None:
            context["limits"] = limits

        def step_function(token_ids, states, context):
            keys = context.get("keys", context["memory"])
            if "limits" not in context:
                return self.decoder.step(
                    token_ids, states, context["memory"], context["memory_mask"], keys, output_projection
                )
            *decoder_states, generated = states
            logits, new_states, weights = self.decoder.step(
                token_ids, decoder_states, context["memory"], context["memory_mask"], keys, output_projection
            )
            at_limit = generated[:, 0] >= context["limits"]

            def end_rows_at_limit():
                # A row at its limit can only end: every other id gets -1e9 (eos
                # keeps log-probability 0). One broadcast pass over the logits.
                not_eos = tf.not_equal(tf.range(tf.shape(logits)[-1]), self.eos_id)[tf.newaxis, :]
                return tf.where(at_limit[:, tf.newaxis] & not_eos, -1e9, logits)

            # Most steps have no row at its limit: skip the pass over (rows x vocabulary) then.
            logits = tf.cast(logits, tf.float32)
            logits = tf.cond(tf.reduce_any(at_limit), end_rows_at_limit, lambda: logits)
            return logits, list(new_states) + [generated + 1.0], weights

        common = dict(bos_id=self.bos_id, eos_id=self.eos_id, length_penalty=length_penalty, context=context)
        if method == "beam":
            ids, scores, attention = beam_search(
                step_function, initial_states, batch_size, beam_size, max_length, **common
            )
            ids, scores = ids[:, 0], scores[:, 0]
        elif method == "greedy":
            ids, scores, attention = greedy_search(step_function, initial_states, batch_size, max_length, **common)
        else:
            ids, scores, attention = sample_search(
                step_function, initial_states, batch_size, max_length,
                temperature=temperature, top_k=top_k, top_p=top_p, seed=seed, **common,
            )
        return {"ids": ids, "scores": scores, "attention": attention}


