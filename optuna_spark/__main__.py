"""``python -m optuna_spark``."""

from optuna_spark.cli import main

main()
