#!/usr/bin/env bash
# Set up the MariaDB (or MySQL) server that holds optuna-spark studies: see --help.
# The script itself ships inside the package (optuna_spark/resources/setup-mysql.sh), so
# cluster init scripts find it after a pip install; this is the repository's entry point.
exec bash "$(dirname "${BASH_SOURCE[0]}")/../optuna_spark/resources/setup-mysql.sh" "$@"
