"""Data-parallel training under torchrun (2 CPU processes, gloo): one run directory (or comparison folder), the
same model quality as one process with the same global batch size."""

import json
import os
import subprocess
import sys

from tests.conftest import needs_shared_data, write_npz


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


COMPARE_RECIPE = """\
data: {data}
reference:
  train: {{model: smallcnn, epochs: 2, batch_size: 16}}
budget: {{epochs: 1, batch_size: 16, device: cpu}}
validation: {{n_resamples: 1000, margins: 0.05}}
measure: {{latency_repeats: 3}}
techniques:
  - {{technique: prune, criterion: taylor, target: macs=0.5}}
  - {{technique: distill, student: smallcnn, student_kwargs: {{width: 8}}, epochs: 1}}
  - {{technique: quantize}}
"""


def _compare(recipe, out, *launcher):
    command = [*launcher, "-m", "medprune", "compare", str(recipe), "--out", str(out), "--no-progress"]
    done = subprocess.run(command, capture_output=True, text=True, env=os.environ | {"MEDPRUNE_DEBUG": ""},
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_two_processes_compare_one_recipe_into_one_folder(tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(COMPARE_RECIPE.format(data=write_npz(tmp_path / "tiny.npz", counts=(128, 64, 64))))
    _compare(recipe, tmp_path / "one", sys.executable)
    two = _compare(recipe, tmp_path / "two", sys.executable, "-m", "torch.distributed.run", "--standalone",
                   "--nproc-per-node", "2")
    assert two.stdout.count("compression techniques on tiny") == 1  # rank 0 measures and reports; rank 1 trains
    one_record = json.loads((tmp_path / "one" / "comparison.json").read_text())
    two_record = json.loads((tmp_path / "two" / "comparison.json").read_text())
    assert (one_record["budget"]["processes"], two_record["budget"]["processes"]) == (1, 2)
    reference = json.loads((tmp_path / "two" / "reference" / "metrics.json").read_text())
    assert reference["training"]["result"]["processes"] == 2  # the reference trained data-parallel too
    assert [r["name"] for r in two_record["rows"]] == [r["name"] for r in one_record["rows"]]
    for a, b in zip(one_record["rows"], two_record["rows"]):
        assert abs(a["auroc"] - b["auroc"]) <= 0.02 and b["verdict"] in ("reference", "non-inferior", "inferior",
                                                                          "inconclusive")
    files = [sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
             for root in (tmp_path / "one", tmp_path / "two")]
    assert files[0] == files[1]  # nothing written twice, no scratch left behind
