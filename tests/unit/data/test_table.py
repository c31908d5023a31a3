import numpy as np
import pytest

from medprune.data import load_data
from medprune.errors import ConfigError, DataError
from tests.conftest import needs_shared_data, shared_data_dir


def test_table_is_encoded_split_and_stratified(tiny_table):
    data = load_data(tiny_table, target="Outcome", subgroups=["Sex"])
    assert data.modality == "table" and data.task == "binary"
    sizes = {k: len(v) for k, v in data.splits.items()}
    assert sizes == {"train": 72, "val": 24, "test": 24}
    rates = [data.split(s).y.mean() for s in ("train", "val", "test")]
    assert max(rates) - min(rates) < 0.1
    assert not any("Sex" in name for name in data.feature_names)  # metadata, not an input
    assert set(data.split("test").meta["Sex"]) == {"M", "F"}
    assert data.split("train").x.dtype == np.float32


def test_subgroup_as_input_adds_the_column(tiny_table):
    data = load_data(tiny_table, target="Outcome", subgroups=["Sex"], subgroups_as_input=True)
    assert any("Sex" in name for name in data.feature_names)


def test_split_is_seeded(tiny_table):
    a = load_data(tiny_table, target="Outcome", seed=3)
    b = load_data(tiny_table, target="Outcome", seed=3)
    c = load_data(tiny_table, target="Outcome", seed=4)
    assert np.array_equal(a.split("test").x, b.split("test").x)
    assert not np.array_equal(a.split("test").x, c.split("test").x)


def test_missing_values_error_or_impute(tiny_table):
    lines = tiny_table.read_text().splitlines()
    lines[5] = ",".join(["", *lines[5].split(",")[1:]])
    tiny_table.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"missing values in Age \(1\): pass --missing impute"):
        load_data(tiny_table, target="Outcome")
    data = load_data(tiny_table, target="Outcome", missing="impute")
    assert np.isfinite(data.split("train").x).all()


def test_target_required_and_columns_checked(tiny_table):
    with pytest.raises(ConfigError, match="--target COLUMN"):
        load_data(tiny_table)
    with pytest.raises(DataError, match="column 'Outcom' is not in table.csv"):
        load_data(tiny_table, target="Outcom")
    with pytest.raises(DataError, match="column 'Race' is not in"):
        load_data(tiny_table, target="Outcome", subgroups=["Race"])


def test_unreadable_csv(tmp_path):
    path = tmp_path / "bin.csv"
    path.write_bytes(b"\xff\xfe\x00garbage\x00")
    with pytest.raises(DataError, match="not a readable CSV"):
        load_data(path, target="x")


@needs_shared_data
def test_heart_disease_table():
    data = load_data(shared_data_dir() / "heart_disease.csv", target="HeartDisease", subgroups=["Sex"])
    assert sum(len(s) for s in data.splits.values()) == 918
    assert data.task == "binary" and len(data.split("train")) == 550
    assert set(data.split("test").meta["Sex"]) == {"M", "F"}
