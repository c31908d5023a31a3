import numpy as np
import pytest

from medprune.data import load_data
from medprune.errors import ConfigError, DataError
from tests.conftest import needs_shared_data, shared_data_dir


def test_table_is_encoded_split_and_stratified(tiny_table):
    data = load_data(tiny_table, label_column="Outcome", subgroups=["Sex"])
    assert data.modality == "table" and data.task == "binary"
    sizes = {k: len(v) for k, v in data.splits.items()}
    assert sizes == {"train": 72, "val": 24, "test": 24}
    rates = [data.split(s).y.mean() for s in ("train", "val", "test")]
    assert max(rates) - min(rates) < 0.1
    assert not any("Sex" in name for name in data.feature_names)  # metadata, not an input
    assert set(data.split("test").meta["Sex"]) == {"M", "F"}
    assert data.split("train").x.dtype == np.float32


def test_subgroup_as_input_adds_the_column(tiny_table):
    data = load_data(tiny_table, label_column="Outcome", subgroups=["Sex"], subgroups_as_input=True)
    assert any("Sex" in name for name in data.feature_names)


def test_split_is_seeded(tiny_table):
    a = load_data(tiny_table, label_column="Outcome", seed=3)
    b = load_data(tiny_table, label_column="Outcome", seed=3)
    c = load_data(tiny_table, label_column="Outcome", seed=4)
    assert np.array_equal(a.split("test").x, b.split("test").x)
    assert not np.array_equal(a.split("test").x, c.split("test").x)


def test_missing_values_error_or_impute(tiny_table):
    lines = tiny_table.read_text().splitlines()
    lines[5] = ",".join(["", *lines[5].split(",")[1:]])
    tiny_table.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"missing values in Age \(1\): pass --missing impute"):
        load_data(tiny_table, label_column="Outcome")
    data = load_data(tiny_table, label_column="Outcome", missing="impute")
    assert np.isfinite(data.split("train").x).all()


def test_target_required_and_columns_checked(tiny_table):
    with pytest.raises(ConfigError, match="--label-column COLUMN"):
        load_data(tiny_table)
    with pytest.raises(DataError, match="column 'Outcom' is not in table.csv"):
        load_data(tiny_table, label_column="Outcom")
    with pytest.raises(DataError, match="column 'Race' is not in"):
        load_data(tiny_table, label_column="Outcome", subgroups=["Race"])


def test_unreadable_csv(tmp_path):
    path = tmp_path / "bin.csv"
    path.write_bytes(b"\xff\xfe\x00garbage\x00")
    with pytest.raises(DataError, match="not a text CSV file"):
        load_data(path, label_column="x")


@pytest.mark.parametrize(("content", "message"), [
    ("Age;Sex;Outcome\n50;M;1\n60;F;0\n".encode(), "separates its columns with semicolons"),
    ("Age,Ville,Outcome\n50,Besançon,1\n".encode("latin-1"), "not UTF-8 text .*save it again as 'CSV UTF-8'"),
    (b"Age,Sex,Outcome\n50,M,1\n60,F,0,extra\n", "not a regular CSV .*as many fields as the header"),
])
def test_common_csv_mistakes_say_how_to_fix_them(tmp_path, content, message):
    path = tmp_path / "table.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        load_data(path, label_column="Outcome")


@needs_shared_data
def test_heart_disease_table():
    data = load_data(shared_data_dir() / "heart_disease.csv", label_column="HeartDisease", subgroups=["Sex"])
    assert sum(len(s) for s in data.splits.values()) == 918
    assert data.task == "binary" and len(data.split("train")) == 550
    assert set(data.split("test").meta["Sex"]) == {"M", "F"}


def _sklearn_features(frame, numeric, categorical, train_rows):
    """The independent reference: scikit-learn's scaler and one-hot encoder fitted on the training rows."""
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    encoder = ColumnTransformer([("n", StandardScaler(), numeric),
                                 ("c", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical)])
    return encoder.fit(frame.iloc[train_rows]).transform(frame)


@needs_shared_data
def test_stored_encoding_matches_scikit_learn_on_heart_disease():
    import pandas as pd

    from medprune.data.table_encoding import apply_encoding, fit_encoding

    frame = pd.read_csv(shared_data_dir() / "heart_disease.csv")
    categorical = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    numeric = [c for c in frame.columns if c not in categorical and c != "HeartDisease"]
    train = np.arange(0, len(frame), 2)
    encoding = fit_encoding(frame.iloc[train], numeric, categorical, impute=False)
    ours = apply_encoding(frame, encoding, "heart_disease.csv")
    np.testing.assert_allclose(ours, _sklearn_features(frame, numeric, categorical, train), atol=1e-5)


def test_reordered_columns_give_identical_features_with_a_stored_encoding(tiny_table, tmp_path):
    import pandas as pd

    trained = load_data(tiny_table, label_column="Outcome")
    encoding = trained.preprocessing["encoding"]
    frame = pd.read_csv(tiny_table)
    reordered = tmp_path / "reordered.csv"
    frame[["Outcome", "Chol", "Sex", "Age", "Pain"]].to_csv(reordered, index=False)
    again = load_data(reordered, label_column="Outcome", encoding=encoding)
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(again.split(split).x, trained.split(split).x)


def test_renamed_duplicated_or_unknown_columns_are_refused(tiny_table, tmp_path):
    encoding = load_data(tiny_table, label_column="Outcome").preprocessing["encoding"]
    header, *rows = tiny_table.read_text().splitlines()
    cases = {"Age,Sex,Pain,Age,Outcome": "column 'Age' appears 2 times",
             "Age,Sex,Pain,Cholesterol,Outcome": "column 'Chol' the model was trained on",
             "Age,Sex,Pain,Chol,Outcome,Extra": "column 'Extra' the model was not trained on"}
    for i, (new_header, message) in enumerate(cases.items()):
        path = tmp_path / f"bad{i}.csv"
        extra = ",1" if new_header.endswith("Extra") else ""
        path.write_text("\n".join([new_header, *(r + extra for r in rows)]) + "\n")
        with pytest.raises(DataError, match=message):
            load_data(path, label_column="Outcome", encoding=encoding)


def test_infinite_values_are_refused(tiny_table):
    lines = tiny_table.read_text().splitlines()
    lines[3] = ",".join(["inf", *lines[3].split(",")[1:]])
    tiny_table.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="column 'Age' holds infinite values"):
        load_data(tiny_table, label_column="Outcome")
