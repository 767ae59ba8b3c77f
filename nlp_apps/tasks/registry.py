"""Maps a pipeline's `task` name to the module that implements it.

A task module provides `train(config, resume)`, `evaluate(config, split)`,
`predict(config, texts, output_format)` and `export(config)`. Modules are
imported lazily so `nlp-apps --help` stays fast.
"""

import importlib

TASK_MODULES = {
    "ner": "nlp_apps.tasks.ner_pipeline",
    "sentiment": "nlp_apps.tasks.sentiment_pipeline",
    "language_model": "nlp_apps.tasks.language_model_pipeline",
    "translation": "nlp_apps.tasks.translation_pipeline",
}

# Tasks that are designed but not implemented yet; named so users get a clear answer.
PLANNED_TASKS = ()


def get_task(name: str):
    if name in TASK_MODULES:
        return importlib.import_module(TASK_MODULES[name])
    if name in PLANNED_TASKS:
        raise ValueError(
            f"task: {name!r} is not yet available in this version of nlp_apps; "
            f"available tasks: {', '.join(sorted(TASK_MODULES))}"
        )
    raise ValueError(f"task: unknown task {name!r}; available tasks: {', '.join(sorted(TASK_MODULES))}")
