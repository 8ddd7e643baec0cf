"""The XGBoost objective on the CPU: device choice, tasks and metrics, the max_bin matrix cache,
pruning, and synthetic benchmark data through every backend."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from optuna_spark.config import (
    BackendSpec,
    DataSpec,
    RunConfig,
    SamplerSpec,
    StorageSpec,
    XGBoostOptions,
    bundled_wine_csv,
)
from optuna_spark.errors import ConfigError, DataError
from optuna_spark.objectives import build_objective, default_direction, resolve_objective
from optuna_spark.objectives.xgboost import MAX_REPORTS, report_interval
from optuna_spark.runner import run_study
from optuna_spark.synthetic import SyntheticSpec, write_regression
from tests.helpers import read_trials, trial_states

pytest.importorskip("xgboost")


def _study(objective, n: int, direction: str = "minimize") -> optuna.Study:
    study = optuna.create_study(direction=direction, sampler=optuna.samplers.RandomSampler(seed=1))
    study.optimize(objective, n_trials=n)
    return study


def _binary_wine(tmp_path: Path) -> str:
    import pandas as pd

    frame = pd.read_csv(bundled_wine_csv(), sep=";")
    frame["good"] = (frame.pop("quality") >= 6).astype(int)
    path = tmp_path / "wine-binary.csv"
    frame.to_csv(path, index=False)
    return str(path)


def _why_not_the_gpu() -> str:
    """What this machine (no GPU) lacks first: xgboost-cpu has no CUDA at all; the full
    `xgboost` wheel (a Databricks ML runtime's, under `make compat`) has it built in, and then
    CuPy (to find and feed a GPU) or a GPU is missing."""
    import importlib.util

    import xgboost

    if not xgboost.build_info().get("USE_CUDA"):
        return "the installed XGBoost has no CUDA support"
    if importlib.util.find_spec("cupy") is None:
        return "CuPy cannot be imported"
    return "no GPU is visible"


def test_auto_on_a_cpu_only_machine_trains_on_the_cpu_and_says_why() -> None:
    spec = resolve_objective(
        "xgboost", DataSpec(bundled_wine_csv()), XGBoostOptions(num_boost_round=10)
    )
    objective = build_objective(spec, threads=1)
    assert objective.device.device == "cpu"
    assert objective.device.reason == f"auto: {_why_not_the_gpu()}"
    trial = _study(objective, 1).trials[0]
    assert trial.user_attrs["device"] == "cpu"


def test_cuda_asked_for_without_a_gpu_is_an_error_not_a_cpu_run() -> None:
    spec = resolve_objective("xgboost", DataSpec(bundled_wine_csv()), XGBoostOptions(device="cuda"))
    with pytest.raises(
        ConfigError, match=f"^--device cuda was asked for, but {_why_not_the_gpu()}; install "
    ):
        build_objective(spec, threads=1)


def test_binary_classification_with_auc_is_maximised(tmp_path: Path) -> None:
    options = XGBoostOptions(num_boost_round=30, task="binary", metric="auc", device="cpu")
    spec = resolve_objective("xgboost", DataSpec(_binary_wine(tmp_path)), options)
    assert default_direction(spec) == "maximize"
    study = _study(build_objective(spec, threads=1), 3, direction="maximize")
    assert 0.6 < study.best_value <= 1.0  # a real classifier, not chance (0.5)
    logloss = XGBoostOptions(num_boost_round=30, task="binary", device="cpu")
    assert logloss.eval_metric == "logloss" and logloss.direction == "minimize"


def test_binary_task_needs_a_zero_one_label() -> None:
    spec = resolve_objective(
        "xgboost", DataSpec(bundled_wine_csv()), XGBoostOptions(task="binary", device="cpu")
    )
    with pytest.raises(
        DataError, match="--task binary needs a label of 0 and 1, but column 'quality'"
    ):
        build_objective(spec, threads=1)


def test_metric_must_fit_the_task() -> None:
    with pytest.raises(ConfigError, match="--metric auc does not fit --task regression"):
        XGBoostOptions(metric="auc")


def test_max_bin_is_searched_with_a_bounded_cache_of_matrix_pairs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import xgboost

    from optuna_spark.objectives.xgboost import MATRIX_CACHE

    built: list[int] = []
    original = xgboost.QuantileDMatrix

    def counting(*args, **kwargs):
        if "ref" not in kwargs:
            built.append(kwargs["max_bin"])
        return original(*args, **kwargs)

    monkeypatch.setattr(xgboost, "QuantileDMatrix", counting)
    options = XGBoostOptions(num_boost_round=5, tune_max_bin=True, device="cpu")
    spec = resolve_objective("xgboost", DataSpec(bundled_wine_csv()), options)
    study = _study(build_objective(spec, threads=1), 12)
    asked = [t.params["max_bin"] for t in study.trials]
    assert set(asked) <= {32, 64, 96, 128, 160, 192, 224, 256} and len(set(asked)) > 1
    # A value is built again only after MATRIX_CACHE other values pushed it out.
    expected: list[int] = []
    held: list[int] = []
    for value in asked:
        if value in held:
            held.remove(value)
        else:
            expected.append(value)
            held = held[-(MATRIX_CACHE - 1) :]
        held.append(value)
    assert built == expected and len(built) < len(asked)


def test_matrices_free_the_raw_arrays_and_hold_at_most_the_cache_bound() -> None:
    from optuna_spark.objectives.xgboost import MATRIX_CACHE, _Matrices

    class FakeXGBoost:
        @staticmethod
        def QuantileDMatrix(x, y, max_bin, nthread, ref=None):
            return ("valid" if ref else "train", max_bin)

    arrays = ([[1.0]], [1.0], [[2.0]], [2.0])
    once = _Matrices(FakeXGBoost, arrays, threads=1, keep_data=False)
    assert once.get(256) == (("train", 256), ("valid", 256))
    assert not once.holds_data and once.get(256)[0] == ("train", 256)
    with pytest.raises(RuntimeError, match="freed"):
        once.get(32)
    searched = _Matrices(FakeXGBoost, arrays, threads=1, keep_data=True)
    for max_bin in (32, 64, 96, 32, 128):
        searched.get(max_bin)
        assert len(searched.cached) <= MATRIX_CACHE
    assert searched.holds_data and searched.cached == [32, 128][-MATRIX_CACHE:]


def test_pruning_stops_unpromising_trials() -> None:
    options = XGBoostOptions(
        num_boost_round=200, early_stopping_rounds=200, prune=True, device="cpu"
    )
    spec = resolve_objective("xgboost", DataSpec(bundled_wine_csv()), options)
    study = optuna.create_study(
        sampler=optuna.samplers.RandomSampler(seed=0),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=5),
    )
    study.optimize(build_objective(spec, threads=1), n_trials=12)
    states = [t.state.name for t in study.trials]
    assert "PRUNED" in states and "COMPLETE" in states
    # Every trial reported at the same steps, every report_interval(200) = 4 rounds, so the
    # pruner compares like with like, and at most MAX_REPORTS times (a storage write each).
    for trial in study.trials:
        steps = sorted(trial.intermediate_values)
        assert steps and len(steps) <= MAX_REPORTS
        assert steps == list(range(4, 4 * len(steps) + 1, 4))


def test_the_report_interval_keeps_reports_per_trial_bounded() -> None:
    assert report_interval(1000) == 20 and report_interval(200) == 4
    assert report_interval(1) == 1 and report_interval(49) == 1 and report_interval(51) == 2
    for rounds in (1, 7, 50, 51, 999, 1000, 1001, 100_000):
        assert rounds // report_interval(rounds) <= MAX_REPORTS


def test_make_data_is_float32_chunked_and_reproducible(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pandas as pd

    from optuna_spark import synthetic

    monkeypatch.setattr(synthetic, "CHUNK_ROWS", 300)  # four row groups
    path = tmp_path / "reg.parquet"
    write_regression(SyntheticSpec(rows=1000, cols=12, seed=7), str(path))
    frame = pd.read_parquet(path)
    assert frame.shape == (1000, 13) and list(frame.columns)[-1] == "label"
    assert set(frame.dtypes.astype(str)) == {"float32"}
    import pyarrow.parquet as pq

    assert pq.ParquetFile(path).num_row_groups == 4
    again = tmp_path / "again.parquet"  # the same spec writes the same values
    write_regression(SyntheticSpec(rows=1000, cols=12, seed=7), str(again))
    assert pd.read_parquet(again).equals(frame)
    other = tmp_path / "other.parquet"
    write_regression(SyntheticSpec(rows=1000, cols=12, seed=8), str(other))
    assert not pd.read_parquet(other).equals(frame)
    with pytest.raises(ConfigError, match="already exists; pass --force"):
        write_regression(SyntheticSpec(rows=10, cols=2), str(path))
    with pytest.raises(ConfigError, match="--rows must be a positive"):
        SyntheticSpec(rows=0, cols=2)


@pytest.fixture(scope="module")
def synthetic_parquet(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("data") / "reg.parquet"
    write_regression(SyntheticSpec(rows=5000, cols=20, seed=3), str(path))
    return str(path)


@pytest.mark.spark
@pytest.mark.parametrize("backend", ["local", "joblibspark", "rdd", "dataframe"])
def test_device_cpu_on_synthetic_parquet_through_every_backend(
    backend: str,
    synthetic_parquet: str,
    sqlite_url: str,
    request: pytest.FixtureRequest,
) -> None:
    if backend != "local":
        request.getfixturevalue("spark")
    config = RunConfig(
        storage=StorageSpec(sqlite_url),
        objective="xgboost",
        study_name="syn",
        trials=4,
        data=DataSpec(synthetic_parquet),
        backend=BackendSpec(name=backend, tasks=2),
        sampler=SamplerSpec(name="random", seed=1),
        xgboost=XGBoostOptions(num_boost_round=20, device="cpu"),
    )
    summary = run_study(config)
    assert trial_states(sqlite_url, "syn") == {"COMPLETE": 4}
    assert summary.devices == ["cpu (--device cpu)"]
    assert {t.user_attrs["device"] for t in read_trials(sqlite_url, "syn")} == {"cpu"}
    assert summary.best_value is not None and summary.best_value < 2.0  # label std is about 1.4


def test_json_summary_says_where_auto_trained(tmp_path: Path) -> None:
    """A job log (--json) shows when auto fell back to the CPU, and why."""
    import json

    from tests.helpers import run_cli

    done = run_cli(
        "run", "--objective", "xgboost", "--trials", "2", "--num-boost-round", "5",
        "--backend", "local", "--tasks", "1", "--storage", f"sqlite:///{tmp_path / 'j.db'}",
        "--json", "--progress", "none", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    (device,) = record["devices"]
    assert device == f"cpu (auto: {_why_not_the_gpu()})"
    assert record["gpu_memory"] == []  # only GPU workers report it
