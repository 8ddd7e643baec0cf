"""Tune XGBoost on the bundled red wine data through joblibspark (a Spark job per worker).

    python examples/xgboost_joblibspark.py          # local Spark
    spark-submit examples/xgboost_joblibspark.py    # the session spark-submit creates is used
"""

from optuna_spark import optimize

if __name__ == "__main__":
    summary = optimize(
        "xgboost",
        n_trials=20,
        storage="sqlite:///examples-xgboost.db",
        study_name="wine-joblibspark",
        backend="joblibspark",
        tasks=2,
        jobs=2,
        num_boost_round=200,
    )
    print(f"best validation RMSE {summary.best_value:.4f} with {summary.best_params}")
