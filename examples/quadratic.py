"""A quadratic study through the Python API, on worker processes (no Spark needed).

python examples/quadratic.py
"""

from optuna_spark import optimize

if __name__ == "__main__":
    summary = optimize(
        "quadratic",
        n_trials=40,
        storage="sqlite:///examples-quadratic.db",
        backend="local",
        tasks=2,
        seed=42,
    )
    print(
        f"{summary.finished} finished trials, best {summary.best_value:.4f} "
        f"at {summary.best_params}"
    )
