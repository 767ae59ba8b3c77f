"""Sentiment: `model.py` (SentimentClassifier), `preprocessor.py`, `task.py` (SentimentTask hooks), `export.py`, `explain.py`."""
