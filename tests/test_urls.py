"""URL masking and SQLite path handling."""

from __future__ import annotations

import pytest

from optuna_spark.urls import (
    absolute_sqlite_url,
    mask_url,
    mask_urls_in_text,
    sqlite_path,
    url_password,
)


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("mysql://optuna:pw@127.0.0.1/db", "mysql://optuna:***@127.0.0.1/db"),
        (
            "mysql+pymysql://u:p%40ss@127.0.0.1:3306/db?charset=utf8",
            "mysql+pymysql://u:***@127.0.0.1:3306/db?charset=utf8",
        ),
        ("mysql://u:we@ird:pw@127.0.0.1/db", "mysql://u:***@127.0.0.1/db"),
        ("mysql://optuna@127.0.0.1/db", "mysql://optuna@127.0.0.1/db"),
        ("mysql://u@127.0.0.1/db?password=pw", "mysql://u@127.0.0.1/db?password=***"),
        (
            "mysql://u@127.0.0.1/db?charset=utf8&passwd=p%40w&ssl_mode=REQUIRED",
            "mysql://u@127.0.0.1/db?charset=utf8&passwd=***&ssl_mode=REQUIRED",
        ),
        ("mysql://u@127.0.0.1/db?PWD=pw", "mysql://u@127.0.0.1/db?PWD=***"),
        ("mysql://u:a@127.0.0.1/db?password=b", "mysql://u:***@127.0.0.1/db?password=***"),
        ("sqlite:////tmp/a.db", "sqlite:////tmp/a.db"),
        ("not a url", "not a url"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_mask_urls_inside_messages() -> None:
    text = "could not connect to mysql://root:hunter2@127.0.0.1:3306/x (timeout)"
    assert (
        mask_urls_in_text(text)
        == "could not connect to mysql://root:***@127.0.0.1:3306/x (timeout)"
    )


def test_sqlite_paths() -> None:
    assert sqlite_path("sqlite:////tmp/a.db") == "/tmp/a.db"
    assert sqlite_path("sqlite:///rel.db?x=1") == "rel.db"
    assert sqlite_path("sqlite://") is None
    assert sqlite_path("sqlite:///:memory:") is None
    assert sqlite_path("mysql://u@h/db") is None
    assert absolute_sqlite_url("sqlite:///a/b.db?x=1", cwd="/w") == "sqlite:////w/a/b.db?x=1"


def test_a_password_in_the_query_counts_as_given() -> None:
    assert url_password("mysql://u@127.0.0.1/db?passwd=pw&x=1") == "pw"
    assert url_password("mysql://u@127.0.0.1/db?x=1") is None
