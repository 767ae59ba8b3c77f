"""Named-entity recognition: `model.py` (SequenceTagger), `preprocessor.py`, `task.py` (NERTask hooks), `export.py`."""
