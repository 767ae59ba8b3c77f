"""Command line: `nlp-apps train|pretrain|evaluate|predict|export|serve|tasks`."""

import argparse
import os
import sys

from nlp_apps.config import load_config


def _add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c", "--config", action="append", required=True, metavar="YAML",
        help="pipeline config; repeat to merge several files left to right",
    )
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override one config value, e.g. --set train.epochs=3 (applied after the files)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nlp-apps", description="Train, evaluate, run and export NLP pipelines (NER, sentiment, translation, language modeling)."
    )
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = subcommands.add_parser("train", help="train a pipeline; writes checkpoints, logs and the resolved config to its run directory")
    _add_config_arguments(train)
    train.add_argument("--resume", action="store_true", help="continue from the last epoch checkpoint of the run directory")

    pretrain = subcommands.add_parser(
        "pretrain", help="pretrain the shared encoder as a language model and write an encoder artifact (task: pretrain)"
    )
    _add_config_arguments(pretrain)
    pretrain.add_argument("--resume", action="store_true", help="continue from the last epoch checkpoint of the run directory")
    pretrain.add_argument(
        "--from", dest="from_artifact", metavar="ARTIFACT",
        help="continue pretraining from this encoder artifact on the config's corpora (ULMFiT's target-domain stage)",
    )

    evaluate = subcommands.add_parser("evaluate", help="score the trained model on a data split")
    _add_config_arguments(evaluate)
    evaluate.add_argument("--split", default="test", choices=("train", "dev", "test"))

    predict = subcommands.add_parser("predict", help="run the trained model on raw text")
    _add_config_arguments(predict)
    predict.add_argument("--text", action="append", default=[], help="an input text; repeat for several")
    predict.add_argument("--input-file", help="a UTF-8 file with one input text per line")
    predict.add_argument(
        "--format", dest="output_format", default="text", metavar="FORMAT",
        help="text or json for every task; conll too for ner (each task says what it writes)",
    )
    predict.add_argument(
        "--explain", metavar="DIR", help="write an HTML and PNG attention explanation per input to DIR (sentiment)"
    )
    predict.add_argument(
        "--plot-attention", metavar="DIR", help="save a source/target attention heat-map PNG per input to DIR (translation)"
    )
    predict.add_argument("--beam-size", type=int, help="beam width, 1 = greedy (translation)")
    # Generation options (language_model, translation); left out of the call when not given.
    predict.add_argument("--max-length", type=int, help="tokens to generate at most (language_model)")
    predict.add_argument("--temperature", type=float, help="sampling temperature, 0 = greedy (language_model)")
    predict.add_argument("--top-k", type=int, help="sample from the k most likely tokens, 0 = all (language_model)")
    predict.add_argument("--top-p", type=float, help="nucleus sampling mass, 1 = all (language_model)")
    predict.add_argument("--seed", type=int, help="random seed; the same seed gives the same text (language_model)")

    export = subcommands.add_parser(
        "export", help="export the trained model as a new version saved_models/<name>/<N>/ (.keras, SavedModel, TFLite), verified"
    )
    _add_config_arguments(export)
    export.add_argument(
        "--version", type=int, metavar="N", help="version number to write (default: the next free one; an existing one is never replaced)"
    )

    serve = subcommands.add_parser(
        "serve", help="serve exported models over TF Serving's REST API (with server-side batching) and a demo page at /"
    )
    serve.add_argument(
        "--model-base", dest="model_bases", action="append", metavar="DIR",
        help="a model folder of integer versions, or a folder of such model folders (default: saved_models); repeat for several",
    )
    serve.add_argument("--model", dest="models", action="append", default=[], metavar="NAME", help="serve only this model; repeat for several")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, default=8501, help="port (default 8501, TF Serving's REST port)")
    serve.add_argument("--max-batch-size", type=int, default=32, help="examples per server-side batch; 1 = no batching")
    serve.add_argument("--batch-wait-ms", type=float, default=5.0, help="how long a batch waits for more requests")
    serve.add_argument("--max-queue", type=int, default=512, help="requests waiting per signature before 503")
    serve.add_argument("--max-instances", type=int, default=256, help="examples per request at most")
    serve.add_argument("--max-text-chars", type=int, default=10_000, help="characters per input text at most")
    serve.add_argument("--max-body-bytes", type=int, default=4 * 1024 * 1024, help="request body size at most")
    serve.add_argument("--inference-threads", type=int, default=2, help="signature calls running at once")

    subcommands.add_parser("tasks", help="list the available tasks")
    return parser


def _serve(arguments) -> int:
    import uvicorn

    from nlp_apps.serving.app import Server, build_app, warm_up
    from nlp_apps.serving.batching import BatchingOptions
    from nlp_apps.serving.models import ModelRepository
    from nlp_apps.serving.rest import Limits

    for flag, value in (("--max-instances", arguments.max_instances), ("--max-text-chars", arguments.max_text_chars),
                        ("--max-body-bytes", arguments.max_body_bytes), ("--inference-threads", arguments.inference_threads)):
        if value < 1:
            raise ValueError(f"{flag}: expected an integer >= 1, got {value}")
    batching = BatchingOptions(arguments.max_batch_size, arguments.batch_wait_ms / 1000.0, arguments.max_queue)
    limits = Limits(arguments.max_body_bytes, arguments.max_instances, arguments.max_text_chars)
    repository = ModelRepository(arguments.model_bases or ["saved_models"], arguments.models)
    server = Server(repository, batching, limits, arguments.inference_threads)
    warm_up(server)
    for name, served in repository.models.items():
        print(f"serving {name} version {served.version} ({served.task}): signatures {', '.join(sorted(served.signatures))}", flush=True)
    print(f"REST API: http://{arguments.host}:{arguments.port}/v1/models/<name>:predict   demo page: http://{arguments.host}:{arguments.port}/", flush=True)
    uvicorn.run(build_app(server), host=arguments.host, port=arguments.port, log_level="warning")
    return 0


# `predict` flags passed to the task as keyword options when given (`--explain` is `explain_dir`).
PREDICT_OPTIONS = ("plot_attention", "beam_size", "max_length", "temperature", "top_k", "top_p", "seed")


def _read_inputs(arguments) -> list[str]:
    texts = list(arguments.text)
    if arguments.input_file:
        try:
            with open(arguments.input_file, encoding="utf-8") as handle:
                texts.extend(line.rstrip("\n") for line in handle)
        except UnicodeDecodeError as error:
            raise ValueError(f"{arguments.input_file}: not valid UTF-8 ({error.reason} at byte {error.start})") from error
        except OSError as error:
            raise ValueError(f"--input-file {arguments.input_file}: {error.strerror}") from error
    if not texts:
        raise ValueError("predict: give --text or --input-file")
    return texts


def run(argv: list[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    from nlp_apps.quiet_start import start_tensorflow_quietly

    start_tensorflow_quietly()
    from nlp_apps.tasks.base import OPTION_FLAGS
    from nlp_apps.tasks.registry import PLANNED_TASKS, TASK_CLASSES, get_task, get_task_class

    if arguments.command == "tasks":
        for name in sorted(TASK_CLASSES):
            task_class = get_task_class(name)
            if not task_class.output_formats:
                print(f"{name}: available (nlp-apps {name} -c CONFIG writes an encoder artifact; no predict)")
                continue
            options = ", ".join(OPTION_FLAGS.get(option, "--" + option.replace("_", "-")) for option in task_class.predict_options) or "none"
            print(f"{name}: available (predict --format {'|'.join(task_class.output_formats)}; predict options: {options})")
        for name in PLANNED_TASKS:
            print(f"{name}: not yet available")
        return 0
    if arguments.command == "serve":
        return _serve(arguments)
    overrides = list(arguments.overrides)
    if arguments.command == "pretrain" and arguments.from_artifact:
        overrides.append(f"pretrain.from_artifact={arguments.from_artifact}")
    config = load_config(arguments.config, overrides)
    if arguments.command == "pretrain" and config.task != "pretrain":
        raise ValueError(f"pretrain: {', '.join(arguments.config)} is a {config.task!r} pipeline; give a pretrain_*.yaml (task: pretrain)")
    task = get_task(config)
    if arguments.command in ("train", "pretrain"):
        task.train(resume=arguments.resume)
    elif arguments.command == "evaluate":
        task.evaluate(split=arguments.split)
    elif arguments.command == "predict":
        # The task says which options it takes; one it does not is an error naming the flag.
        options = {name: getattr(arguments, name) for name in PREDICT_OPTIONS if getattr(arguments, name) is not None}
        if arguments.explain:
            options["explain_dir"] = arguments.explain
        task.check_predict_request(arguments.output_format, options)
        task.predict(_read_inputs(arguments), output_format=arguments.output_format, **options)
    elif arguments.command == "export":
        task.export(version=arguments.version)
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        return run(argv)
    except ValueError as error:
        # User errors (bad config, bad data, missing model) get one clear line, not a traceback.
        if os.environ.get("NLP_APPS_DEBUG"):
            raise
        print(f"nlp-apps: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
