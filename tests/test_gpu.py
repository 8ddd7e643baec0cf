"""The GPU path: cuDF loading and XGBoost training on a CUDA device. Skipped where no GPU with
RAPIDS is present (CI has none); run on a GPU machine with ``pytest -m gpu``."""

from __future__ import annotations

from pathlib import Path

import pytest

from optuna_spark import device

CHOICE = device.choose_device("auto", device.probe())
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(CHOICE.device != "cuda", reason=f"no usable GPU here ({CHOICE.reason})"),
]


@pytest.fixture(scope="module")
def parquet(tmp_path_factory: pytest.TempPathFactory) -> str:
    from optuna_spark.synthetic import SyntheticSpec, write_regression

    path = tmp_path_factory.mktemp("gpu") / "reg.parquet"
    write_regression(SyntheticSpec(rows=200_000, cols=156, seed=1), str(path))
    return str(path)


def test_cudf_loads_the_data_on_the_gpu(parquet: str) -> None:
    import cudf

    from optuna_spark.config import DataSpec
    from optuna_spark.data import load_frame

    frame = load_frame(DataSpec(parquet), gpu=True)
    assert isinstance(frame, cudf.DataFrame) and frame.shape == (200_000, 157)


def test_xgboost_trains_on_the_gpu_and_says_so(parquet: str, tmp_path: Path) -> None:
    from optuna_spark.config import BackendSpec, DataSpec, RunConfig, StorageSpec, XGBoostOptions
    from optuna_spark.runner import run_study
    from tests.helpers import read_trials

    url = f"sqlite:///{tmp_path / 'gpu.db'}"
    summary = run_study(
        RunConfig(
            storage=StorageSpec(url),
            objective="xgboost",
            study_name="gpu",
            trials=6,
            data=DataSpec(parquet),
            backend=BackendSpec(name="local", tasks=1),
            xgboost=XGBoostOptions(num_boost_round=200, device="cuda", tune_max_bin=True),
        )
    )
    assert summary.counts["COMPLETE"] == 6
    assert summary.devices and summary.devices[0].startswith("cuda (--device cuda")
    assert {t.user_attrs["device"] for t in read_trials(url, "gpu")} == {"cuda:0"}
