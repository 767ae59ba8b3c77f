"""Language modeling: `model.py` (LanguageModel), `preprocessor.py`, `task.py` (LanguageModelTask hooks), `export.py`, `inference.py`."""
