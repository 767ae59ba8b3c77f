"""Translation: `model.py` (Translator), `preprocessor.py`, `task.py` (TranslationTask hooks), `export.py`, `inference.py`, `attention_plot.py`."""
