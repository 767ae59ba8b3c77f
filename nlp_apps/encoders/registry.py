"""Builds the encoder named in `model.encoder` (an `EncoderConfig`).

`ENCODERS` maps `EncoderConfig.type` to a builder function
`builder(config, vocabulary_size, char_alphabet_size, case_vocabulary_size,
return_state) -> layer`; new encoder types register with
`@register_encoder("name")`. `build_encoder` also loads pretrained weights
(`config.pretrained`) and applies `config.trainable`.

Errors about the configuration name the config field, e.g.
`model.encoder.cell_type: unknown 'lstmm'; choose one of lstm, gru, ...`.
"""

import dataclasses
from pathlib import Path

import keras

from nlp_apps.config import EncoderConfig
from nlp_apps.encoders.rnn_encoder import CASE_IDS, CHAR_IDS, TOKEN_IDS, RNNEncoder
from nlp_apps.layers.character_embedding import CHAR_ENCODERS
from nlp_apps.layers.rnn_stack import CELL_TYPES, MERGE_MODES
from nlp_apps.training.fine_tuning import check_fine_tuning, freeze_encoder

CONFIG_PREFIX = "model.encoder"

ENCODERS = {}


def register_encoder(name):
    """Decorator registering `builder` under `EncoderConfig.type == name`."""

    def decorator(builder):
        if name in ENCODERS:
            raise ValueError(f"{CONFIG_PREFIX}.type: encoder {name!r} is already registered")
        ENCODERS[name] = builder
        return builder

    return decorator


def _choice(field, value, choices):
    if value not in choices:
        raise ValueError(f"{CONFIG_PREFIX}.{field}: unknown {value!r}; choose one of {', '.join(choices)}")


def _with_config_prefix(error):
    """Re-raises a layer's `ValueError` ("field: problem") under the config path."""
    message = str(error)
    field = message.split(":", 1)[0]
    if field in {f.name for f in dataclasses.fields(EncoderConfig)}:
        return ValueError(f"{CONFIG_PREFIX}.{message}")
    return ValueError(f"{CONFIG_PREFIX}: {message}")


@register_encoder("rnn")
def build_rnn_encoder(config, vocabulary_size, char_alphabet_size=0, case_vocabulary_size=0, return_state=False):
    """Builds an `RNNEncoder` from `config`.

    Character features are used when `config.char_embedding_dim > 0` and the
    data has characters (`char_alphabet_size > 0`); casing features when
    `config.case_embedding_dim > 0` and `case_vocabulary_size > 0`.
    """
    _choice("cell_type", config.cell_type, CELL_TYPES)
    _choice("merge_mode", config.merge_mode, MERGE_MODES)
    _choice("char_encoder", config.char_encoder, CHAR_ENCODERS)
    use_chars = config.char_embedding_dim > 0 and char_alphabet_size > 0
    use_case = config.case_embedding_dim > 0 and case_vocabulary_size > 0
    try:
        return RNNEncoder(
            vocabulary_size,
            config.embedding_dim,
            cell_type=config.cell_type,
            units=config.units,
            num_layers=config.num_layers,
            bidirectional=config.bidirectional,
            merge_mode=config.merge_mode,
            dropout=config.dropout,
            recurrent_dropout=config.recurrent_dropout,
            weight_drop=config.weight_drop,
            residual=config.residual,
            spectral_radius=config.spectral_radius,
            leak_rate=config.leak_rate,
            input_scaling=config.input_scaling,
            reservoir_density=config.reservoir_density,
            seed=config.seed,
            embedding_dropout=config.embedding_dropout,
            char_alphabet_size=char_alphabet_size if use_chars else 0,
            char_embedding_dim=config.char_embedding_dim if use_chars else 0,
            char_encoder=config.char_encoder,
            char_units=config.char_units,
            char_kernel_size=config.char_kernel_size,
            case_vocabulary_size=case_vocabulary_size if use_case else 0,
            case_embedding_dim=config.case_embedding_dim if use_case else 0,
            return_state=return_state,
            scalar_mix=config.scalar_mix,
        )
    except ValueError as error:
        raise _with_config_prefix(error) from error


def build_encoder(
    config: EncoderConfig,
    vocabulary_size: int,
    char_alphabet_size: int = 0,
    case_vocabulary_size: int = 0,
    return_state: bool = False,
):
    """Builds the encoder selected by `config.type`.

    If `config.pretrained` names a `.keras` / `.weights.h5` file, the encoder
    is built and its weights are loaded from it (see `load_pretrained_encoder`);
    an encoder artifact folder is loaded by the task once its vocabulary is
    known (`nlp_apps.encoders.pretrained`). `trainable: false` or
    `fine_tuning: frozen` freezes the encoder, pretrained or not (a frozen
    fresh encoder gives fixed random features); a scalar mix on top of a
    frozen encoder still trains.
    """
    if config.type not in ENCODERS:
        raise ValueError(f"{CONFIG_PREFIX}.type: unknown {config.type!r}; choose one of {', '.join(sorted(ENCODERS))}")
    encoder = ENCODERS[config.type](
        config,
        vocabulary_size,
        char_alphabet_size=char_alphabet_size,
        case_vocabulary_size=case_vocabulary_size,
        return_state=return_state,
    )
    if config.pretrained and not Path(config.pretrained).is_dir():
        load_pretrained_encoder(encoder, config.pretrained)
    check_fine_tuning(config)
    # Only ever set to False: setting `trainable = True` recurses into the
    # sublayers and would unfreeze parts that are frozen on purpose.
    if not config.trainable or config.fine_tuning == "frozen":
        if isinstance(encoder, RNNEncoder):
            freeze_encoder(encoder)
        else:
            encoder.trainable = False
    return encoder


def encoder_input_shape(encoder):
    """The (dict of) input shape(s) with which `encoder` is built."""
    if encoder.char_embedding is None and encoder.case_embedding is None:
        return (None, None)
    shape = {TOKEN_IDS: (None, None)}
    if encoder.char_embedding is not None:
        shape[CHAR_IDS] = (None, None, None)
    if encoder.case_embedding is not None:
        shape[CASE_IDS] = (None, None)
    return shape


def _wrapper_model(encoder):
    """A functional model holding only `encoder`, the layout of `save_encoder` files."""
    shape = encoder_input_shape(encoder)
    if isinstance(shape, dict):
        inputs = {name: keras.Input(shape=dims[1:], dtype="int32", name=name) for name, dims in shape.items()}
    else:
        inputs = keras.Input(shape=(None,), dtype="int32", name=TOKEN_IDS)
    return keras.Model(inputs, encoder(inputs), name="pretrained_encoder")


def save_encoder(encoder, path):
    """Saves `encoder` so `model.encoder.pretrained: PATH` can load it.

    `PATH` ending in `.keras` writes a whole model (architecture + weights);
    `.weights.h5` writes only the weights, which load into an encoder built
    from the same configuration.
    """
    path = str(path)
    if not path.endswith((".keras", ".weights.h5")):
        raise ValueError(f"path: expected a '.keras' or '.weights.h5' file name, got {path!r}")
    model = _wrapper_model(encoder)
    if path.endswith(".keras"):
        model.save(path)
    else:
        model.save_weights(path)


def _find_encoders(layer):
    """All `RNNEncoder`s in `layer` (itself or nested in models)."""
    if isinstance(layer, RNNEncoder):
        return [layer]
    found = []
    for child in getattr(layer, "layers", []):
        found.extend(_find_encoders(child))
    return found


def _architecture_mismatch(target, source_config, source_weights, path):
    differences = []
    target_config = target.get_config()
    for key, value in source_config.items():
        if key in ("name", "trainable", "dtype", "return_state", "weight_drop") or "dropout" in key:
            continue
        if target_config.get(key) != value:
            differences.append(f"{key}: {value!r} in the file, {target_config.get(key)!r} in the config")
    shapes = [tuple(weight.shape) for weight in source_weights]
    expected = [tuple(weight.shape) for weight in target.weights]
    detail = "; ".join(differences) if differences else f"weight shapes {shapes} != {expected}"
    return ValueError(
        f"{CONFIG_PREFIX}.pretrained: the encoder in {path} does not match the configured architecture ({detail})"
    )


def load_pretrained_encoder(encoder, path):
    """Loads weights from `path` into `encoder` (building it first).

    `path` is either a `.keras` file whose model is, or contains exactly one,
    `RNNEncoder` (e.g. a saved language model), or a `.weights.h5` file
    written by `save_encoder` for the same architecture.
    """
    path = str(path)
    if not Path(path).is_file():
        raise ValueError(f"{CONFIG_PREFIX}.pretrained: file not found: {path}")
    if not encoder.built:
        encoder.build(encoder_input_shape(encoder))
    if path.endswith(".keras"):
        try:
            loaded = keras.saving.load_model(path, compile=False)
        except Exception as error:
            raise ValueError(f"{CONFIG_PREFIX}.pretrained: cannot load {path}: {error}") from error
        found = _find_encoders(loaded)
        if len(found) != 1:
            raise ValueError(
                f"{CONFIG_PREFIX}.pretrained: expected exactly one RNNEncoder in {path}, found {len(found)}"
            )
        source = found[0]
        source_weights = source.weights
        if [tuple(w.shape) for w in source_weights] != [tuple(w.shape) for w in encoder.weights]:
            raise _architecture_mismatch(encoder, source.get_config(), source_weights, path)
        for target_variable, source_variable in zip(encoder.weights, source_weights):
            target_variable.assign(source_variable.value)
    elif path.endswith(".weights.h5"):
        try:
            _wrapper_model(encoder).load_weights(path)
        except ValueError as error:
            raise ValueError(
                f"{CONFIG_PREFIX}.pretrained: {path} does not match the configured encoder architecture "
                f"(it must be written by nlp_apps.encoders.registry.save_encoder for the same configuration): {error}"
            ) from error
    else:
        raise ValueError(f"{CONFIG_PREFIX}.pretrained: expected a '.keras' or '.weights.h5' file, got {path}")
