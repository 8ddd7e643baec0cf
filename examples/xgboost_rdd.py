"""Tune XGBoost on the bundled red wine data with one Spark job whose tasks are the workers.

    python examples/xgboost_rdd.py
    spark-submit --master spark://HOST:7077 examples/xgboost_rdd.py     (on a cluster)

TRIALS (20), NUM_BOOST_ROUND (200) and OPTUNA_SPARK_STORAGE (a SQLite file here) are read from
the environment; under spark-submit the submitted master and settings are used, and the
number of worker tasks defaults to the cluster's task slots.
"""

import os

from optuna_spark import optimize

if __name__ == "__main__":
    summary = optimize(
        "xgboost",
        n_trials=int(os.environ.get("TRIALS", "20")),
        storage=os.environ.get("OPTUNA_SPARK_STORAGE", "sqlite:///examples-xgboost.db"),
        study_name="wine-rdd",
        backend="rdd",
        num_boost_round=int(os.environ.get("NUM_BOOST_ROUND", "200")),
    )
    print(
        f"{summary.finished} finished trials, best validation RMSE {summary.best_value:.4f} "
        f"with {summary.best_params}"
    )
