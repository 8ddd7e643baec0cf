"""Tune XGBoost on the bundled red wine data with one Spark job whose tasks are the workers.

    python examples/xgboost_rdd.py
"""

from optuna_spark import optimize

if __name__ == "__main__":
    summary = optimize(
        "xgboost",
        n_trials=20,
        storage="sqlite:///examples-xgboost.db",
        study_name="wine-rdd",
        backend="rdd",
        tasks=2,
        num_boost_round=200,
    )
    print(f"best validation RMSE {summary.best_value:.4f} with {summary.best_params}")
