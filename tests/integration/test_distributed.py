"""Data-parallel training under torchrun (2 CPU processes, gloo): one run directory, the same model quality as
one process with the same global batch size."""

import json
import os
import subprocess
import sys

from tests.conftest import needs_shared_data


def _train(out, *launcher):
    command = [*launcher, "-m", "medprune", "train", "--data", "pneumoniamnist", "--model", "smallcnn",
               "--epochs", "2", "--batch-size", "128", "--device", "cpu", "--out", str(out), "--no-progress"]
    done = subprocess.run(command, capture_output=True, text=True, env=os.environ | {"MEDPRUNE_DEBUG": ""},
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@needs_shared_data
def test_two_processes_train_one_run_as_good_as_one_process(tmp_path):
    _train(tmp_path / "one", sys.executable)
    two = _train(tmp_path / "two", sys.executable, "-m", "torch.distributed.run", "--standalone",
                 "--nproc-per-node", "2")
    assert two.stdout.count("run written to") == 1  # rank 0 reports; rank 1 trains silently
    one_record = json.loads((tmp_path / "one" / "metrics.json").read_text())
    two_record = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert two_record["training"]["result"]["processes"] == 2
    assert one_record["training"]["result"]["processes"] == 1
    assert abs(two_record["auroc"] - one_record["auroc"]) <= 0.01
    # the same cases in the same global batches: the learning curves agree closely too
    for a, b in zip(one_record["training"]["result"]["history"], two_record["training"]["result"]["history"]):
        assert abs(a["val_auroc"] - b["val_auroc"]) <= 0.01
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == ["one", "two"]  # no lock file or stray folder beside the outputs
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(p.name for p in (tmp_path / "one").iterdir())
