"""Inputs that used to give a confident wrong answer with exit 0 now give one line naming the problem."""

import pytest

from tests.integration.test_cli import FAST, assert_one_line_error, invoke


@pytest.fixture(scope="module")
def table_run(tmp_path_factory):
    import numpy as np

    root = tmp_path_factory.mktemp("table")
    rng = np.random.default_rng(0)
    lines = ["Age,Pain,Outcome"]
    for i in range(120):
        risk = rng.normal()
        lines.append(f"{50 + 10 * risk:.1f},{['ASY', 'ATA', 'NAP'][i % 3]},{int(risk > 0)}")
    (root / "table.csv").write_text("\n".join(lines) + "\n")
    result = invoke("train", "--data", root / "table.csv", "--label-column", "Outcome", "--model", "mlp",
                    "--out", root / "run", *FAST)
    assert result.exit_code == 0, result.output
    return root


def test_an_unseen_category_is_refused_unless_ignored_and_then_counted(table_run, tmp_path):
    new = tmp_path / "new.csv"
    new.write_text("Age,Pain\n55,ASY\n61,XYZ\n47,NAP\n")
    assert_one_line_error(invoke("predict", "--model", table_run / "run", "--data", new, "--out", tmp_path / "p.csv"),
                          "column 'Pain' holds 1 values the model never saw in training (first: 'XYZ', data row 2")
    assert not (tmp_path / "p.csv").exists()
    result = invoke("predict", "--model", table_run / "run", "--data", new, "--out", tmp_path / "p.csv",
                    "--unknown-category", "ignore")
    assert result.exit_code == 0, result.output
    assert "1 rows had a 'Pain' value the model never saw" in result.output
    assert len((tmp_path / "p.csv").read_text().splitlines()) == 4


def test_an_empty_path_cell_is_named_by_its_row_not_read_as_nan(tmp_path):
    from tests.conftest import write_npz

    run = tmp_path / "run"
    assert invoke("train", "--data", write_npz(tmp_path / "tiny.npz"), "--model", "smallcnn", "--out", run,
                  *FAST).exit_code == 0
    manifest = tmp_path / "new.csv"
    manifest.write_text("path,site\na.png,A\n,B\nb.png,C\n")
    result = invoke("predict", "--model", run, "--data", manifest, "--image-column", "path", "--out",
                    tmp_path / "p.csv")
    assert_one_line_error(result, "rows have no 'path' path (first: data row")
    assert "nan" not in result.stderr


def test_a_full_disk_while_saving_is_one_line_and_leaves_no_empty_run_folder(tmp_path, monkeypatch):
    import torch

    from tests.conftest import write_npz

    def full(*args, **kwargs):  # what torch's zip writer raises when the disk fills
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 306304 vs 306192")

    npz = write_npz(tmp_path / "tiny.npz")
    monkeypatch.setattr(torch, "save", full)
    result = invoke("train", "--data", npz, "--model", "smallcnn", "--out", tmp_path / "run", *FAST)
    assert_one_line_error(result, "train_state.pt: writing failed")
    assert not (tmp_path / "run").exists()


def test_a_file_of_another_shape_is_told_about_its_shape_not_its_classes(tmp_path):
    from tests.conftest import write_npz

    grey = write_npz(tmp_path / "grey.npz")
    run = tmp_path / "run"
    result = invoke("train", "--data", grey, "--classes", "normal,pneumonia", "--positive-class", "pneumonia",
                    "--model", "smallcnn", "--out", run, *FAST)
    assert result.exit_code == 0, result.output
    rgb = write_npz(tmp_path / "rgb.npz", channels=3)
    assert_one_line_error(invoke("evaluate", "--model", run, "--data", rgb, "--repeats", "1"),
                          "expects inputs of shape (1, 16, 16) but rgb has (3, 16, 16)")


def test_an_empty_training_split_is_named_as_such(tmp_path):
    from tests.conftest import write_npz

    empty = write_npz(tmp_path / "empty.npz", counts=(0, 32, 32))
    assert_one_line_error(invoke("train", "--data", empty, "--out", tmp_path / "run", *FAST),
                          "the train split is empty")


def test_the_val_fraction_advice_is_one_that_works(tmp_path):
    import numpy as np

    from medprune.evaluation.metrics import val_fraction_hint

    pooled = np.array([1] * 12 + [0] * 36)  # a 60-row table's train + val with 15 positives in all
    assert "--val-fraction 0.5 " in val_fraction_hint(pooled)
    lines = ["Age,Chol,Outcome"] + [f"{40 + i % 30},{180 + i},{int(i % 4 == 0)}" for i in range(60)]
    table = tmp_path / "t60.csv"
    table.write_text("\n".join(lines) + "\n")
    base = ("train", "--data", table, "--label-column", "Outcome", "--model", "mlp", *FAST)
    assert_one_line_error(invoke(*base, "--out", tmp_path / "a"), "pass --val-fraction 0.5 ")
    assert invoke(*base, "--val-fraction", "0.5", "--out", tmp_path / "b").exit_code == 0


def test_a_subgroup_that_is_the_label_column_is_refused(tiny_table, tmp_path):
    assert_one_line_error(invoke("train", "--data", tiny_table, "--label-column", "Outcome", "--subgroup", "Outcome",
                                 "--model", "mlp", "--out", tmp_path / "run", *FAST), "is the label column")


def test_model_kwargs_the_architecture_does_not_take_are_one_line(tmp_path):
    from medprune import api
    from medprune.errors import ConfigError
    from tests.conftest import write_npz

    dataset = api.load_data(write_npz(tmp_path / "tiny.npz"))
    with pytest.raises(ConfigError, match="model 'smallcnn' cannot be built with model_kwargs {'bogus': 1}"):
        api.train(dataset, "smallcnn", api.TrainConfig(epochs=1), tmp_path / "run", model_kwargs={"bogus": 1},
                  progress=False)
    assert not (tmp_path / "run" / "model.pt").exists()


def test_predict_does_not_suggest_an_option_it_lacks(tmp_path):
    from tests.conftest import write_npz

    run = tmp_path / "run"
    assert invoke("train", "--data", write_npz(tmp_path / "tiny.npz"), "--model", "smallcnn", "--out", run,
                  *FAST).exit_code == 0
    folder = tmp_path / "new"
    folder.mkdir()
    (folder / "broken.png").write_bytes(b"not a png")
    result = invoke("predict", "--model", run, "--data", folder, "--out", tmp_path / "p.csv")
    assert_one_line_error(result, "broken.png cannot be read as an image")
    assert "--skip-unreadable" not in result.stderr
