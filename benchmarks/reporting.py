"""What every benchmark records beside its numbers: the command, the date and the machine."""

import json
import os
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path

import keras
import tensorflow as tf


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else the platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine_description() -> str:
    # The same "2 cores" ran 2x apart on different days, so the CPU model is recorded too.
    return (
        f"{platform.machine()} {cpu_model()}, {os.cpu_count()} cores, {platform.system()}, "
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}"
    )


def run_record(argv=None, budget_minutes=None) -> dict:
    """The exact command line and the UTC date of this run (and its time budget, if any)."""
    arguments = argv if argv is not None else sys.argv[1:]
    record = {
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *arguments]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if budget_minutes is not None:
        record["budget_minutes"] = budget_minutes
    return record


def load_report(output: Path, section: str) -> dict:
    """The existing results file, so rows of variants not re-run this time are kept."""
    return json.loads(output.read_text()) if output.exists() else {section: {}}


def save_report(output: Path, report: dict) -> None:
    report["machine"] = machine_description()
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2))
