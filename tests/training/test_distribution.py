"""Hand-computed losses under tf.distribute: a 2-replica step on 2 logical CPUs equals the single-device step.

Logical devices must be configured before TensorFlow initializes, so the
check runs in a fresh process.
"""

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "replica_equality.py"


def test_two_replica_step_equals_single_device_step():
    completed = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    for name in ("tagger", "language_model", "translator", "sentiment", "tagger_clipped"):
        row = result[name]
        # The logged loss is the per-example mean either way, and the weights after one
        # SGD step agree: gradients are neither doubled nor halved.
        assert abs(row["mirrored_loss"] - row["single_loss"]) < 1e-4 * max(1.0, abs(row["single_loss"])), (name, row)
        # With an acting clip the update is divided by the measured norm: float noise grows a little.
        assert row["max_weight_diff"] < (1e-4 if name.endswith("clipped") else 1e-5), (name, row)
