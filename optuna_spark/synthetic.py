"""Synthetic regression data shaped like the GPU benchmark's: float32 features, a linear label
with noise, written to Parquet in chunks so memory stays bounded whatever the row count."""

from __future__ import annotations

import os
from dataclasses import dataclass

from optuna_spark.errors import ConfigError, DataError

# Rows generated and written per Parquet row group: 100k x 156 float32 is about 62 MB.
CHUNK_ROWS = 100_000


@dataclass(frozen=True)
class SyntheticSpec:
    """The shape of the data set: rows, feature columns, and the seed of everything random."""

    rows: int
    cols: int
    seed: int = 0
    informative: float = 0.1  # share of the features the label depends on
    noise: float = 0.1

    def __post_init__(self) -> None:
        for name, value in (("--rows", self.rows), ("--cols", self.cols)):
            if value < 1:
                raise ConfigError(f"{name} must be a positive whole number, got {value}.")


def write_regression(spec: SyntheticSpec, path: str, force: bool = False) -> int:
    """Write ``spec`` to the Parquet file ``path`` (columns f0..fN-1 and ``label``); return its
    size in bytes. The same spec always writes the same values."""
    import numpy as np

    from optuna_spark.extras import require

    pa = require("pyarrow", "parquet", "make-data")
    import pyarrow.parquet as pq

    if os.path.exists(path) and not force:
        raise ConfigError(f"{path} already exists; pass --force to overwrite it or pick --out.")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ConfigError(f"the directory {directory} does not exist; create it or pick --out.")
    rng = np.random.default_rng(spec.seed)
    weights = np.zeros(spec.cols, dtype=np.float32)
    n_informative = max(1, int(spec.cols * spec.informative))
    chosen = rng.choice(spec.cols, size=n_informative, replace=False)
    weights[chosen] = rng.normal(0, 1, size=n_informative).astype(np.float32)
    names = [f"f{i}" for i in range(spec.cols)] + ["label"]
    schema = pa.schema([(name, pa.float32()) for name in names])
    temporary = f"{path}.partial"
    try:
        with pq.ParquetWriter(temporary, schema) as writer:
            for start in range(0, spec.rows, CHUNK_ROWS):
                n = min(CHUNK_ROWS, spec.rows - start)
                # One generator per chunk, seeded from the spec and the chunk's first row: the
                # same spec writes the same values, and no chunk waits on another's draws.
                chunk_rng = np.random.default_rng([spec.seed, start])
                x = chunk_rng.standard_normal((n, spec.cols), dtype=np.float32)
                y = x @ weights + chunk_rng.normal(0, spec.noise, size=n).astype(np.float32)
                columns = [pa.array(x[:, i]) for i in range(spec.cols)] + [pa.array(y)]
                writer.write_table(pa.Table.from_arrays(columns, schema=schema))
        os.replace(temporary, path)  # never a half-written file under the final name
    except OSError as exc:
        raise DataError(f"cannot write {path}: {exc.strerror or exc}.") from exc
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return os.path.getsize(path)
