"""Reading tabular data sets (CSV or Parquet) and splitting features from the label.

Workers call :func:`load_frame` once per task (pandas, or cuDF straight into GPU memory); the driver
calls :func:`check_data` on a few rows first so a wrong path or label fails fast, before any
Spark job starts.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from optuna_spark.config import DataSpec
from optuna_spark.errors import DataError, first_line

if TYPE_CHECKING:
    import pandas as pd

PARQUET_SUFFIXES = (".parquet", ".pq")


def detect_delimiter(sample: str) -> str:
    """Guess a CSV delimiter from the first lines (the wine file uses ';')."""
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def is_parquet(path: str) -> bool:
    """Parquet by suffix, or a directory (a Parquet data set written by Spark)."""
    return path.lower().endswith(PARQUET_SUFFIXES) or os.path.isdir(path)


def csv_delimiter(path: str) -> str:
    """The delimiter of a CSV file, detected from its first 64 KiB."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        return detect_delimiter(handle.read(64 * 1024))


def _check_exists(path: str) -> None:
    if not os.path.exists(path):
        raise DataError(
            f"data file {path} does not exist; pass an existing CSV or Parquet file with "
            "--filepath."
        )
    if os.path.isfile(path) and os.path.getsize(path) == 0:
        raise DataError(f"data file {path} is empty; pass a CSV or Parquet file with rows.")


def _read(spec: DataSpec, nrows: int | None, gpu: bool = False) -> Any:
    """Read ``spec`` with pandas, or with cuDF into the current GPU's memory when ``gpu``
    (both libraries share ``read_parquet`` and ``read_csv(sep=, nrows=)``)."""
    library: Any
    if gpu:
        library, by = _cudf(), " with cuDF"
    else:
        import pandas

        library, by = pandas, ""
    _check_exists(spec.path)
    if gpu:
        check_gpu_path(spec.path, os.environ)
    try:
        if is_parquet(spec.path):
            frame = library.read_parquet(spec.path)
            return frame.head(nrows) if nrows else frame
        delimiter = spec.delimiter or csv_delimiter(spec.path)
        return library.read_csv(spec.path, sep=delimiter, nrows=nrows)
    except DataError:
        raise
    except ImportError as exc:
        raise DataError(
            f"reading {spec.path} needs pyarrow: run pip install 'optuna-spark[parquet]'."
        ) from exc
    except Exception as exc:  # pandas and cuDF raise many types for malformed files
        raise DataError(f"cannot read data file {spec.path}{by}: {first_line(exc)}.") from exc


def label_column(spec: DataSpec, columns: list[str]) -> str:
    """The label column: ``spec.label`` if given (and present), else the last column."""
    if len(columns) < 2:
        raise DataError(
            f"data file {spec.path} has {len(columns)} column(s); it needs at least one "
            "feature and a label (is --delimiter right?)."
        )
    if spec.label is None:
        return columns[-1]
    if spec.label not in columns:
        shown = ", ".join(repr(c) for c in columns[:12])
        raise DataError(
            f"label column {spec.label!r} is not in {spec.path} (columns: {shown}); "
            "pick one with --label."
        )
    return spec.label


def _check_frame(spec: DataSpec, frame: Any) -> str:
    """Rows, a label, numeric columns: for pandas and cuDF frames alike."""
    if frame.empty:
        raise DataError(f"data file {spec.path} has no rows; pass a file with data.")
    label = label_column(spec, [str(c) for c in frame.columns])
    import pandas as pd

    for column in frame.columns:
        dtype = frame[column].dtype
        if not pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
            raise DataError(
                f"column {str(column)!r} of {spec.path} is not numeric; encode or drop it "
                "before tuning."
            )
    _check_label_values(spec, frame, label)
    return label


def _check_label_values(spec: DataSpec, frame: Any, label: str) -> None:
    """A missing label would reach XGBoost, which stops with a native stack trace."""
    missing = int(frame[label].isna().sum())
    if missing:
        raise DataError(
            f"label column {label!r} of {spec.path} has {missing} missing value(s) in the "
            f"rows read; drop or fill those rows, or pick another --label."
        )


def check_data(spec: DataSpec, sample_rows: int = 200) -> str:
    """Driver-side check on the first rows: readable, has a label, numeric. Returns the label."""
    return _check_frame(spec, _read(spec, nrows=sample_rows))


def load_frame(spec: DataSpec, given: pd.DataFrame | None = None, loader: str = "pandas") -> Any:
    """Read the whole data set and check it: with pandas (``loader`` ``pandas``, or ``cupy``,
    which moves the arrays to the GPU later), or with cuDF into the current GPU's memory
    (``cudf``). ``given`` is a pandas copy Spark already handed over (the ``dataframe``
    backend), checked the same way (and moved to the GPU by cuDF for ``cudf``)."""
    gpu = loader == "cudf"
    if given is None:
        frame = _read(spec, nrows=None, gpu=gpu)
    else:
        frame = _cudf().from_pandas(given) if gpu else given
    _check_frame(spec, frame)
    return frame


def check_gpu_path(path: str, env: Mapping[str, str]) -> None:
    """cuDF reads through GPUDirect Storage (cuFile) by default, which the ``/dbfs/`` FUSE
    mount of Databricks does not support: there it must be turned off."""
    if path.startswith("/dbfs/") and env.get("LIBCUDF_CUFILE_POLICY") != "OFF":
        raise DataError(
            f"reading {path} with cuDF needs LIBCUDF_CUFILE_POLICY=OFF (the /dbfs/ mount does "
            "not support GPUDirect Storage); set it in the cluster's environment variables."
        )


def _cudf() -> Any:
    from optuna_spark.extras import require

    return require("cudf", "gpu-cu12|gpu-cu13", "Loading data with cuDF")


def split_xy(spec: DataSpec, frame: Any) -> tuple[Any, Any]:
    """Features and label of a checked frame (pandas or cuDF)."""
    label = label_column(spec, [str(c) for c in frame.columns])
    _check_label_values(spec, frame, label)
    return frame.drop(columns=[label]), frame[label]
