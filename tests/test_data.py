"""Data loading: delimiter detection, label choice, and the errors users see."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from optuna_spark.config import DataSpec, bundled_wine_csv
from optuna_spark.data import check_data, detect_delimiter, load_frame, split_xy
from optuna_spark.errors import DataError


def test_wine_file_is_read_with_semicolons_and_last_column_label() -> None:
    spec = DataSpec(bundled_wine_csv())
    frame = load_frame(spec)
    features, label = split_xy(spec, frame)
    assert frame.shape == (1599, 12)
    assert label.name == "quality" and features.shape == (1599, 11)
    assert check_data(spec) == "quality"


def test_delimiters() -> None:
    assert detect_delimiter("a;b;c\n1;2;3\n") == ";"
    assert detect_delimiter("a,b,c\n1,2,3\n") == ","
    assert detect_delimiter("a\tb\n1\t2\n") == "\t"


def test_parquet_and_explicit_label(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    path = tmp_path / "d.parquet"
    pd.DataFrame({"y": [1.0, 2.0], "a": [3.0, 4.0]}).to_parquet(path)
    spec = DataSpec(str(path), label="y")
    features, label = split_xy(spec, load_frame(spec))
    assert list(features.columns) == ["a"] and list(label) == [1.0, 2.0]


@pytest.mark.parametrize(
    ("content", "label", "fragment"),
    [
        (None, None, "does not exist"),
        ("", None, "is empty"),
        ("a,b\n", None, "has no rows"),
        ("a,b\n1,2\n", "missing", "label column 'missing' is not in"),
        ("a,b,y\n1,x,2\n", None, "column 'b' of"),
        ("only\n1\n", None, "needs at least one feature and a label"),
    ],
)
def test_bad_data_gives_one_clear_sentence(tmp_path: Path, content, label, fragment) -> None:
    path = tmp_path / "d.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(DataError, match=fragment) as info:
        check_data(DataSpec(str(path), label=label))
    assert "\n" not in str(info.value)
