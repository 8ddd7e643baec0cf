"""The ``optuna-spark`` command line: parse options into frozen configs, make one library call,
print the result. Errors become one message and an exit code here, and only here."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from optuna_spark._version import __version__
from optuna_spark.config import (
    DIRECTIONS,
    StorageSpec,
    resolve_storage,
)
from optuna_spark.errors import OptunaSparkError, first_line
from optuna_spark.options import RUN_OPTIONS, Option, RunOptions, run_option
from optuna_spark.urls import mask_urls_in_text

EXIT_INTERRUPTED = 130


def _debug(ctx: click.Context) -> bool:
    """--debug (an option of the group) or OPTUNA_SPARK_DEBUG=1."""
    return bool(ctx.find_root().params.get("debug")) or os.environ.get("OPTUNA_SPARK_DEBUG") == "1"


class _Group(click.Group):
    """Converts every error to one line on stderr and an exit code (tracebacks with --debug)."""

    def invoke(self, ctx: click.Context) -> Any:
        debug = _debug(ctx)
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            click.echo(
                "\nInterrupted; the study keeps every finished trial and can be resumed "
                "by running the same command again.",
                err=True,
            )
            ctx.exit(EXIT_INTERRUPTED)
        except OptunaSparkError as exc:
            if debug:
                raise
            click.echo(f"Error: {mask_urls_in_text(str(exc) or first_line(exc))}", err=True)
            ctx.exit(exc.exit_code)
        except Exception as exc:
            if debug:
                raise
            # The first line only: a Py4J error's text goes on with a Java stack trace.
            click.echo(
                f"Error: unexpected {type(exc).__name__}: {mask_urls_in_text(first_line(exc))} "
                "(rerun with --debug for the traceback).",
                err=True,
            )
            ctx.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="optuna-spark")
@click.option("--debug", is_flag=True, help="Show full tracebacks (also OPTUNA_SPARK_DEBUG=1).")
def cli(debug: bool) -> None:
    """Run one Optuna study across an Apache Spark cluster.

    Every command takes --storage (or OPTUNA_SPARK_STORAGE); the default is the SQLite file
    optuna-spark.db in the working directory.
    """


def _quiet_optuna() -> None:
    """Optuna logs every trial at INFO; the progress line and summary replace that here."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)


def _storage(value: str | None, password_file: str | None) -> StorageSpec:
    return resolve_storage(value, password_file, os.environ)


_CLICK_TYPES: dict[str, Any] = {
    "text": None,
    "int": int,
    "float": float,
    "count": click.IntRange(min=0),
    "path": click.Path(dir_okay=True),
    "file": click.Path(dir_okay=False),
    "existing-file": click.Path(exists=True, dir_okay=False),
}


def click_option(option: Option) -> Any:
    """The click option of one :class:`~optuna_spark.options.Option` (its meaning, default
    and parsing written once, in options.py)."""
    settings: dict[str, Any] = {"help": option.help}
    if option.kind == "flag":
        settings["is_flag"] = True
    elif option.kind == "choice":
        settings["type"] = click.Choice(option.choices)
    elif option.kind != "switch":
        settings["type"] = _CLICK_TYPES[option.kind]
    if option.kind != "flag":
        settings["default"] = option.default
    if option.multiple:
        settings["multiple"] = True
    if option.metavar:
        settings["metavar"] = option.metavar
    if option.default_text:
        settings["help"] += f" [default: {option.default_text}]"
    elif option.shown_default and option.kind not in ("flag", "switch"):
        settings["show_default"] = True
    return click.option(option.flag, option.name, **settings)


def run_options(command: Any) -> Any:
    """Every option of ``run``, in the order of :data:`~optuna_spark.options.RUN_OPTIONS`."""
    for option in reversed(RUN_OPTIONS):
        command = click_option(option)(command)
    return command


def storage_option(command: Any) -> Any:
    """--storage and --password-file, shared by every command (as run defines them)."""
    command = click_option(run_option("password_file"))(command)
    return click_option(run_option("storage"))(command)


study_option = click.option("--study-name", required=True, help="Name of the study.")
format_option = click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
    help="Output format.",
)


# Extra arguments are taken so that Optuna's own spelling, --directions minimize maximize,
# works too; any other stray argument is still an error.
@cli.command(context_settings={"allow_extra_args": True})
@run_options
@click.option(
    "--progress",
    type=click.Choice(["auto", "bar", "log", "none"]),
    default="auto",
    show_default=True,
    help="bar: a live line; log: a line every 10 s (job logs); none; auto: bar on a "
    "terminal, else log.",
)
@click.option("--quiet", is_flag=True, help="Same as --progress none.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def run(progress: str, quiet: bool, as_json: bool, **options: Any) -> None:
    """Run (or resume) a study until it has --trials finished trials.

    \b
    Examples:
      optuna-spark run --tasks 2 --trials 100 --jobs 8
      optuna-spark run --objective quadratic --backend local --trials 50
      optuna-spark run --objective my_model.py:objective --filepath data.parquet
    """
    import json

    from optuna_spark.console import ConsoleReporter, format_summary, summary_record
    from optuna_spark.runner import run_study
    from optuna_spark.timeline import process_started_at

    extra = click.get_current_context().args
    if extra:
        if not options["directions"] or not all(e in DIRECTIONS for e in extra):
            raise click.UsageError(f"Got unexpected extra argument(s) ({' '.join(extra)})")
        options["directions"] = (*options["directions"], *extra)
    try:
        config = RunOptions(**options).to_config()
        _quiet_optuna()
        if progress == "auto":
            progress = "bar" if sys.stderr.isatty() else "log"
        reporter = None if quiet else ConsoleReporter(sys.stderr, mode=progress)
        summary = run_study(config, reporter, started_at=process_started_at())
    except OptunaSparkError as exc:
        if as_json:  # a script reading stdout gets JSON either way; stderr says it too
            error = mask_urls_in_text(str(exc) or first_line(exc))
            click.echo(json.dumps({"error": error, "exit_code": exc.exit_code}, indent=2))
        raise
    debug = _debug(click.get_current_context())
    click.echo(
        json.dumps(summary_record(summary), indent=2) if as_json else format_summary(summary, debug)
    )
    if summary.failure:
        click.echo(f"Error: {mask_urls_in_text(summary.failure)}", err=True)
        raise SystemExit(summary.exit_code)


@cli.command("pack-env")
@click.option(
    "--output", "-o", default="optuna-env.tar.gz", show_default=True, help="Archive to write."
)
@click.option("--force", is_flag=True, help="Overwrite an existing archive.")
def pack_env(output: str, force: bool) -> None:
    """Pack this conda environment or virtualenv for the executors, and print the
    spark-submit options that ship it (or pass it to run --archive)."""
    from optuna_spark.pack import pack_env as pack
    from optuna_spark.pack import submit_flags

    packed = pack(output, force)
    click.echo(
        f"Packed the {packed.kind} at {sys.prefix} into {packed.path} "
        f"({packed.size_bytes / 1e6:.0f} MB). Ship it with:"
    )
    click.echo("  spark-submit " + " ".join(submit_flags(packed.path)) + " ...")
    click.echo(f"  or: optuna-spark run --archive {packed.path} --master spark://HOST:7077 ...")


@cli.command("make-data")
@click.option("--rows", type=int, default=2_000_000, show_default=True, help="Rows to write.")
@click.option(
    "--cols", type=int, default=156, show_default=True, help="Feature columns (plus the label)."
)
@click.option("--out", "output", required=True, help="Parquet file to write.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def make_data(rows: int, cols: int, output: str, seed: int, force: bool) -> None:
    """Write a synthetic regression data set (float32 Parquet, written in chunks so memory
    stays bounded) shaped like the GPU benchmark's."""
    from optuna_spark.synthetic import SyntheticSpec, write_regression

    written = write_regression(SyntheticSpec(rows=rows, cols=cols, seed=seed), output, force)
    click.echo(
        f"Wrote {rows:,} rows x {cols} features + label to {output} ({written / 1e6:.0f} MB)."
    )


@cli.command("gpu-discovery-script")
def gpu_discovery_script_command() -> None:
    """Print the path of the bundled Spark GPU discovery script (for
    spark.worker.resource.gpu.discoveryScript; pip-installed pyspark lacks Spark's own)."""
    from optuna_spark.config import gpu_discovery_script

    click.echo(gpu_discovery_script())


@cli.command("create-study")
@study_option
@storage_option
@click.option("--direction", type=click.Choice(DIRECTIONS), default="minimize", show_default=True)
def create_study(
    study_name: str, storage: str | None, password_file: str | None, direction: str
) -> None:
    """Create an empty study (no error if it exists with the same direction)."""
    from optuna_spark import studies as study_api

    _quiet_optuna()
    spec = _storage(storage, password_file)
    result = study_api.create_study(spec, study_name, direction)
    if result.notice:
        click.echo(result.notice, err=True)
    click.echo(
        f"{'Created' if result.created else 'Found existing'} study {study_name!r} "
        f"({direction}) in {spec.masked}"
    )


@cli.command("delete-study")
@study_option
@storage_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def delete_study(
    study_name: str, storage: str | None, password_file: str | None, yes: bool
) -> None:
    """Delete a study and all its trials."""
    from optuna_spark import studies as study_api

    spec = _storage(storage, password_file)
    if not yes:
        if not sys.stdin.isatty():
            raise click.UsageError(
                "delete-study asks for confirmation; pass --yes to delete without asking."
            )
        click.confirm(
            f"Delete study {study_name!r} and all its trials from {spec.masked}?", abort=True
        )
    n = study_api.delete_study(spec, study_name)
    click.echo(f"Deleted study {study_name!r} and its {n} trial(s) from {spec.masked}")


@cli.command()
@storage_option
@format_option
def studies(storage: str | None, password_file: str | None, fmt: str) -> None:
    """List the studies in the storage with their trial counts and best values."""
    from optuna_spark import studies as study_api
    from optuna_spark.console import render_records, study_records

    rows = study_api.list_studies(_storage(storage, password_file))
    if not rows and fmt == "table":
        click.echo("No studies.")
        return
    click.echo(render_records(study_records(rows), fmt))


@cli.command()
@study_option
@storage_option
@format_option
def best(study_name: str, storage: str | None, password_file: str | None, fmt: str) -> None:
    """Show the best trial of a study (Optuna's name for this: best-trial)."""
    from optuna_spark import studies as study_api
    from optuna_spark.console import render_records

    record = study_api.best(_storage(storage, password_file), study_name)
    click.echo(render_records([record], fmt) if fmt != "json" else _json(record))


@cli.command()
@study_option
@storage_option
@format_option
def trials(study_name: str, storage: str | None, password_file: str | None, fmt: str) -> None:
    """List every trial of a study."""
    from optuna_spark import studies as study_api
    from optuna_spark.console import render_records

    records = study_api.trials(_storage(storage, password_file), study_name)
    if not records and fmt == "table":
        click.echo(f"Study {study_name!r} has no trials yet.")
        return
    click.echo(render_records(records, fmt))


# Optuna's own name for it: the same command, with help that says which it is.
cli.add_command(
    click.Command(
        "best-trial",
        params=best.params,
        callback=best.callback,
        help="Show the best trial of a study (the same as best, under Optuna's name).",
    )
)


@cli.command("best-trials")
@study_option
@storage_option
@format_option
def best_trials(study_name: str, storage: str | None, password_file: str | None, fmt: str) -> None:
    """Show the Pareto front of a multi-objective study: the trials no other trial beats on
    every objective (the best trial of a single-objective one)."""
    from optuna_spark import studies as study_api
    from optuna_spark.console import render_records

    records = study_api.best_trials(_storage(storage, password_file), study_name)
    click.echo(render_records(records, fmt))


@cli.command()
@click.argument("study", required=False)
@click.option("--study-name", help="The study (instead of STUDY).")
@storage_option
@click.option(
    "--out",
    "output",
    default="report.html",
    show_default=True,
    help="HTML file to write (replaced if it exists).",
)
def report(
    study: str | None,
    study_name: str | None,
    storage: str | None,
    password_file: str | None,
    output: str,
) -> None:
    """Write a self-contained HTML report of STUDY (opens offline): history, importances,
    parallel coordinates, slices, trials per worker, the trials table and each run's facts."""
    from optuna_spark.html_report import ReportSpec, write_report

    if study and study_name and study != study_name:
        raise click.UsageError(f"two studies given ({study!r} and --study-name {study_name!r}).")
    study = study or study_name
    if not study:
        raise click.UsageError("name the study: optuna-spark report STUDY (or --study-name).")

    written = write_report(ReportSpec(_storage(storage, password_file), study, output))
    click.echo(
        f"Wrote {written.path} ({written.bytes / 1e6:.1f} MB): {written.trials} trial(s), "
        f"{len(written.plots)} plot(s)."
    )
    for line in written.skipped:
        click.echo(f"  not drawn: {line}")


def _json(record: dict[str, Any]) -> str:
    import json

    return json.dumps(record, indent=2, default=str)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="optuna-spark")


if __name__ == "__main__":
    main()
