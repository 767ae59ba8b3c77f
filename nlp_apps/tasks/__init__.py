"""Tasks: `base.py` (the `Task` contract, the flow every task shares) and one package per task.

Each of `ner/`, `sentiment/`, `translation/` and `language_model/` holds the
same file roles: `model.py` (the Keras model around the injected encoder),
`preprocessor.py` (`from_training_data`, `save`, `load`), `task.py` (the
`Task` subclass: the hooks) and `export.py` (serving module, TFLite
function). `registry.py` maps a config's `task:` to its class.
"""
