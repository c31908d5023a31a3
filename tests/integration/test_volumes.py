"""3D volumes end to end on small synthetic data: every verb runs on (N, D, H, W) volumes, the gallery shows
mid-slices, pruned 3D models reload, and a 2D model given volumes (or the reverse) is one clear error."""

import json

import numpy as np
import pytest

from tests.conftest import write_npz
from tests.integration.test_cli import FAST, assert_one_line_error, invoke

SIZE = 12


def write_volumes(path, counts=(80, 40, 40), seed=0, side=SIZE):
    """Volumes whose class sets the brightness of a central cube."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in zip(("train", "val", "test"), counts):
        y = np.arange(n) % 2
        rng.shuffle(y)
        x = rng.integers(0, 60, size=(n, side, side, side))
        c = side // 4
        x[y == 1, c:-c, c:-c, c:-c] += 80
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = x.astype(np.uint8), y.reshape(-1, 1).astype(np.uint8)
    np.savez(path, **arrays)
    return path


@pytest.fixture(scope="module")
def volume_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("vol")
    npz = write_volumes(root / "vols.npz")
    result = invoke("train", "--data", npz, "--classes", "normal,mass", "--positive-class", "mass", "--model",
                    "smallcnn", "--out", root / "run", *FAST)
    assert result.exit_code == 0, result.output
    return root


def test_a_volume_model_trains_evaluates_and_records_3d_inputs(volume_run):
    metrics = json.loads((volume_run / "run" / "metrics.json").read_text())
    assert metrics["data"]["input_shape"] == [1, SIZE, SIZE, SIZE] and metrics["auroc"] > 0.8
    assert set(metrics["efficiency"]["latency_ms"]) == {"batch1", "batch8", "batch32"}


@pytest.mark.parametrize("args", [["--structured", "--target", "macs=0.5"], ["--target", "sparsity=0.7"]])
def test_volume_models_prune_validate_export_and_reload(volume_run, tmp_path, args):
    pruned = tmp_path / "pruned"
    result = invoke("prune", "--model", volume_run / "run", "--criterion", "taylor", *args, "--finetune-epochs", "1",
                    "--out", pruned, "--no-progress")
    assert result.exit_code == 0, result.output
    record = json.loads((pruned / "metrics.json").read_text())
    if "--structured" in args:
        assert 0.3 < record["pruning"]["achieved"]["macs_ratio"] <= 0.5
    result = invoke("validate", "--reference", volume_run / "run", "--candidate", pruned, "--out", tmp_path / "val")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "val" / "validation.json").read_text())["candidates"][0]["verdict"]
    for extra in ([], ["--int8"]):
        out = tmp_path / f"model{'-int8' if extra else ''}.onnx"
        result = invoke("export", "--model", pruned, "--out", out, *extra)
        assert result.exit_code == 0, result.output
        result = invoke("evaluate", "--model", out, "--json", tmp_path / "e.json")
        assert result.exit_code == 0, result.output


def test_audit_and_mismatched_dimensions(volume_run, tmp_path):
    npz = volume_run / "vols.npz"
    result = invoke("data", "audit", "--data", npz, "--positive-class", "1",
                    "--json", tmp_path / "a.json", "--html", tmp_path / "a.html")
    assert result.exit_code == 0, result.output
    images = write_npz(tmp_path / "images.npz", size=SIZE)
    assert_one_line_error(invoke("evaluate", "--model", volume_run / "run", "--data", images), "3D volumes")
    assert invoke("train", "--data", images, "--out", tmp_path / "r2d", *FAST).exit_code == 0
    assert_one_line_error(invoke("evaluate", "--model", tmp_path / "r2d", "--data", npz), "2D images")


def test_predict_refuses_inputs_of_another_kind(volume_run, tmp_path, tiny_table):
    from PIL import Image

    folder = tmp_path / "new"
    folder.mkdir()
    Image.fromarray(np.zeros((SIZE, SIZE), np.uint8)).save(folder / "a.png")
    assert_one_line_error(invoke("predict", "--model", volume_run / "run", "--data", folder, "--out",
                                 tmp_path / "p.csv"), "takes 3D volumes but new holds 2D images")
    assert invoke("train", "--data", tiny_table, "--label-column", "Outcome", "--model", "mlp", "--out", tmp_path / "t",
                  *FAST).exit_code == 0
    assert_one_line_error(invoke("predict", "--model", tmp_path / "t", "--data", folder, "--out", tmp_path / "q.csv"),
                          "takes table rows")


def test_a_nifti_manifest_is_read_windowed_and_resampled_and_predicted(tmp_path):
    import nibabel

    rng = np.random.default_rng(3)
    (tmp_path / "ct").mkdir()
    rows = ["path,label"]
    for i in range(100):
        label = i % 2
        hu = rng.normal(-100, 30, (12, 12, 12)).astype(np.float32)  # soft tissue around -100 HU
        hu[4:8, 4:8, 4:8] += 150 * label
        stored = np.rint((hu + 1024) / 2).astype(np.int16)  # slope 2, intercept -1024, as scanners store CT
        image = nibabel.Nifti1Image(stored, np.eye(4))
        image.header.set_slope_inter(2, -1024)
        nibabel.save(image, tmp_path / "ct" / f"{i}.nii.gz")
        rows.append(f"ct/{i}.nii.gz,{('normal', 'mass')[label]}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    from medprune.data import load_data

    data = load_data(tmp_path / "labels.csv", image_column="path", label_column="label", positive_class="mass",
                     window=(-50, 400), image_size=8)
    assert data.input_shape == (1, 8, 8, 8)
    first = data.split("train").x[0]
    assert first.shape == (1, 8, 8, 8) and first.dtype == np.uint8 and 0 < first.mean() < 255
    args = ["--data", tmp_path / "labels.csv", "--image-column", "path", "--label-column", "label", "--positive-class",
            "mass", "--window", "-50,400", "--volume-size", "8", "--model", "smallcnn"]
    result = invoke("train", *args, "--out", tmp_path / "run", *FAST)
    assert result.exit_code == 0, result.output
    result = invoke("predict", "--model", tmp_path / "run", "--data", tmp_path / "ct", "--out", tmp_path / "p.csv",
                    "--no-progress")
    assert result.exit_code == 0, result.output
    assert len((tmp_path / "p.csv").read_text().splitlines()) == 101
    assert_one_line_error(invoke("train", *args, "--image-size", "8", "--out", tmp_path / "r2"), "not both")


def test_compare_runs_every_technique_on_a_3d_model(volume_run, tmp_path):
    from medprune.compress import TECHNIQUES
    from tests.integration.test_compare_cli import RECIPE

    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE.format(data=volume_run / "vols.npz"))
    result = invoke("compare", recipe, "--out", tmp_path / "out", "--no-progress")
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "out" / "comparison.json").read_text())
    assert {t for row in record["rows"] for t in row["techniques"]} == set(TECHNIQUES.names())
    for row in record["rows"]:
        measured = [t for t in row["latency_ms"].values() if t]  # an int8 model runs in ONNX Runtime only
        assert measured and all(t["batch8"] > 0 for t in measured), row["name"]
        assert row.get("verdict", "reference") in ("reference", "non-inferior", "inferior", "inconclusive")



@pytest.mark.parametrize("model_name", ["smallcnn", "resnet18", "densenet121"])
def test_volumes_of_side_64_load_and_the_3d_models_prune_to_a_macs_target(tmp_path, model_name):
    """The @64 MedMNIST files hold 64x64x64 volumes; the real one is not always at hand (its own end-to-end test
    runs when MEDPRUNE_DATA holds it), so a file of that side in the same layout is read, and each 3D model of the
    zoo built for it is pruned by magnitude to half its MACs (the CLI verbs run at side 12 above: latency figures
    of 64-voxel volumes would take minutes here)."""
    import torch

    import medprune
    from medprune.data import load_data
    from medprune.evaluation.efficiency import count_macs
    from medprune.models.registry import create_model

    data = load_data(write_volumes(tmp_path / "vols64.npz", counts=(4, 2, 2), side=64))
    assert data.input_shape == (1, 64, 64, 64) and data.split("train").x.shape[1:] == (1, 64, 64, 64)
    model = create_model(model_name, input_shape=data.input_shape, n_classes=2).eval()
    example = torch.zeros(1, *data.input_shape)
    result = medprune.prune(model, example, criterion="magnitude", target="macs=0.5", round_to=1)
    ratio = count_macs(result.model, data.input_shape) / count_macs(model, data.input_shape)
    assert 0.45 < ratio <= 0.5 and result.achieved["macs_ratio"] == pytest.approx(ratio, abs=1e-3)
    with torch.no_grad():
        assert result.model(torch.randn(2, *data.input_shape)).shape == (2, 2)
