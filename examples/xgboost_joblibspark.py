"""Tune XGBoost on the bundled red wine data through joblibspark (a Spark job per worker).

    python examples/xgboost_joblibspark.py          # local Spark
    spark-submit examples/xgboost_joblibspark.py    # the session spark-submit creates is used

TRIALS (20), JOBS (8, Spark jobs at a time), NUM_BOOST_ROUND (200) and OPTUNA_SPARK_STORAGE
(a SQLite file here) are read from the environment.
"""

import os

from optuna_spark import optimize

if __name__ == "__main__":
    summary = optimize(
        "xgboost",
        n_trials=int(os.environ.get("TRIALS", "20")),
        storage=os.environ.get("OPTUNA_SPARK_STORAGE", "sqlite:///examples-xgboost.db"),
        study_name="wine-joblibspark",
        backend="joblibspark",
        jobs=int(os.environ.get("JOBS", "8")),
        num_boost_round=int(os.environ.get("NUM_BOOST_ROUND", "200")),
    )
    print(
        f"{summary.finished} finished trials, best validation RMSE {summary.best_value:.4f} "
        f"with {summary.best_params}"
    )
