# The two commands of the README. Each sets up everything first (venv, extras, Java check).
VENV ?= .venv
export VENV := $(abspath $(VENV))
TRIALS ?= 100
TASKS ?= 2
JOBS ?= 8
# One venv for tests, lint and reliability: the same extras, so switching never reinstalls.
DEV_EXTRAS := spark,connect,xgboost,mysql,pack,report,mlflow,test,lint

.PHONY: run test test-unit docs lint compat wheel reliability bench bench-samplers setup clean

## run: tune XGBoost on the bundled wine data, local Spark, embedded SQLite storage
run:
	scripts/setup-env.sh spark,xgboost
	$(VENV)/bin/optuna-spark run --tasks $(TASKS) --trials $(TRIALS) --jobs $(JOBS)

## test: lint, then the whole test suite (unit, CLI, real local Spark, real XGBoost, real
## MariaDB, real Spark Connect)
test: lint
	scripts/setup-browser.sh
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

## test-unit: the edit-test loop: every test that needs no Spark, no database server and no
## GPU (pure logic, the worker against SQLite, the local backend, the CLI); no lint
UNIT_MARKS := not spark and not mysql and not connect and not gpu
test-unit: setup
	$(VENV)/bin/python -m pytest -q -m "$(UNIT_MARKS)" $(PYTEST_ARGS)

## docs: write the options table of docs/cli.md again from optuna_spark/options.py (a test
## fails while it is stale)
docs:
	$(VENV)/bin/python -c "from optuna_spark.options import write_reference; write_reference('docs/cli.md')"

## lint: ruff (lint and format) over everything, mypy over the package; `make test` runs it
## before the tests. After `setup`: the mysql extra builds against the headers it installs.
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

## compat: the Spark, MySQL and XGBoost tests on the oldest versions pyproject.toml allows
## (Python 3.10) and on Databricks 15.4 LTS-like (Python 3.11) and 16.4 LTS-like (Python 3.12)
## stacks whose packages the install must not change (constraints/); one venv each under
## .compat/, from the wheel. CI runs it after `test`.
compat: wheel
	scripts/setup-mysql.sh install
	scripts/compat.sh oldest $(PYTEST_ARGS)
	scripts/compat.sh databricks-15.4-lts $(PYTEST_ARGS)
	scripts/compat.sh databricks-16.4-lts $(PYTEST_ARGS)

## wheel: dist/optuna_spark-VERSION-py3-none-any.whl, what a cluster without our package on an
## index installs (see databricks/README.md)
wheel:
	rm -f dist/optuna_spark-*.whl
	python3 -m pip wheel --quiet --no-deps --wheel-dir dist .

## reliability: the fault and concurrency scenarios alone, ending with their table
reliability: setup
	$(VENV)/bin/python -m pytest tests/reliability -q $(PYTEST_ARGS)

## bench: optuna-spark against Hyperopt SparkTrials, MlflowSparkStudy, the static split and plain
## Optuna, one run, one MariaDB (about 45 minutes on 2 cores); then a user's own objective
## (asking ahead on and off, about 5 minutes), the cold start against plain PySpark (about
## 5 minutes), MLflow tracking's cost (about 7 minutes), pruning (about 12 minutes) and XGBoost threads
## per local worker (about 8 minutes), each
## into its own section; writes docs/benchmarks.md
BENCH_ARGS ?= --repeats 3
BENCH_DOC := docs/benchmarks.md
bench:
	scripts/setup-mysql.sh install
	scripts/setup-env.sh spark,xgboost,mysql,bench
	$(VENV)/bin/python bench/peers.py $(BENCH_ARGS) --markdown $(BENCH_DOC) --json bench/results/peers.json --plots docs/img
	$(VENV)/bin/python bench/user_objective.py --markdown $(BENCH_DOC)
	$(VENV)/bin/python bench/cold_start.py --markdown $(BENCH_DOC)
	$(VENV)/bin/python bench/mlflow_overhead.py --markdown $(BENCH_DOC)
	$(VENV)/bin/python bench/pruning.py --markdown $(BENCH_DOC)
	$(VENV)/bin/python bench/threads.py --markdown $(BENCH_DOC)

## bench-samplers: the sampler candidates (issue 20) at 1, 8 and 32 workers, 7 seeds, against
## Hyperopt's TPE, in two processes (about 35 minutes on 2 cores; the gp extra brings torch);
## writes the sampler-candidates section of docs/benchmarks.md
SAMPLERS_RUN := OMP_NUM_THREADS=1 $(VENV)/bin/python bench/quality.py --candidates --seeds 7
bench-samplers:
	scripts/setup-env.sh spark,xgboost,mysql,bench,samplers,gp
	$(SAMPLERS_RUN) --functions Hartmann-6 Rosenbrock-5 Ackley-10 Levy-10 Ackley-8 \
	  --json bench/results/samplers-a.json & \
	$(SAMPLERS_RUN) --functions Levy-8 conditional --json bench/results/samplers-b.json && \
	$(SAMPLERS_RUN) --functions "XGBoost on wine" --only "auto (the default now)" CMA-ES \
	  "GP (qLogEI over running trials)" --json bench/results/samplers-c.json; wait
	$(SAMPLERS_RUN) --merge bench/results/samplers-a.json bench/results/samplers-b.json \
	  bench/results/samplers-c.json --markdown $(BENCH_DOC)

setup:
	scripts/setup-mysql.sh install
	scripts/setup-env.sh $(DEV_EXTRAS)

clean:
	rm -rf $(VENV) .compat build dist *.egg-info .pytest_cache
