"""Maps a pipeline's `task` name to the `Task` subclass that implements it.

Classes are imported lazily so `nlp-apps --help` stays fast. A new task adds
one line here and a package `nlp_apps/tasks/<name>/` (see README, Architecture).
"""

import importlib

TASK_CLASSES = {
    "ner": "nlp_apps.tasks.ner.task:NERTask",
    "sentiment": "nlp_apps.tasks.sentiment.task:SentimentTask",
    "language_model": "nlp_apps.tasks.language_model.task:LanguageModelTask",
    "translation": "nlp_apps.tasks.translation.task:TranslationTask",
    "pretrain": "nlp_apps.pretraining.task:PretrainTask",
}

# Tasks that are designed but not implemented yet; named so users get a clear answer.
PLANNED_TASKS = ()


def get_task_class(name: str):
    """The `Task` subclass of task `name`; a ValueError naming the field for an unknown one."""
    if name in TASK_CLASSES:
        module_name, class_name = TASK_CLASSES[name].split(":")
        return getattr(importlib.import_module(module_name), class_name)
    if name in PLANNED_TASKS:
        raise ValueError(
            f"task: {name!r} is not yet available in this version of nlp_apps; "
            f"available tasks: {', '.join(sorted(TASK_CLASSES))}"
        )
    raise ValueError(f"task: unknown task {name!r}; available tasks: {', '.join(sorted(TASK_CLASSES))}")


def get_task(config):
    """The task of `config` (validated for that task: a field it does not use is an error)."""
    return get_task_class(config.task)(config)
