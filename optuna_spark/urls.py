"""Pure helpers for storage URLs: masking secrets and pinning SQLite paths.

Kept free of SQLAlchemy so that masking works even on a URL too malformed to parse.
"""

from __future__ import annotations

import os
import re

MASK = "***"

# scheme://user:password@host... -> the password is everything between the first ':' after
# the user name and the last '@' before the host (passwords may themselves contain '@').
_PASSWORD_RE = re.compile(r"^(?P<head>[^:/?#]+://[^:/@?#]*:)(?P<password>.*)(?P<tail>@[^@]*)$")
# A password given as a query parameter, as SQLAlchemy passes it to the driver:
# ?password=..., ?passwd=... (mysqlclient's own name), ?pwd=...
_QUERY_PASSWORD_RE = re.compile(r"(?P<key>[?&](?:password|passwd|pwd)=)(?P<password>[^&#]*)", re.I)


def mask_url(url: str) -> str:
    """Return ``url`` with every password (``user:PASSWORD@``, ``?password=``, ``?passwd=``,
    ``?pwd=``) replaced by ``***``; safe to print, log or raise."""
    match = _PASSWORD_RE.match(url)
    if match and match.group("password"):
        url = f"{match.group('head')}{MASK}{match.group('tail')}"
    return _QUERY_PASSWORD_RE.sub(lambda m: m.group("key") + MASK, url)


def url_password(url: str) -> str | None:
    """The password written inside ``url`` (after the user name, or as a query parameter),
    if any."""
    match = _PASSWORD_RE.match(url)
    if match and match.group("password"):
        return match.group("password")
    query = _QUERY_PASSWORD_RE.search(url.partition("?")[1] + url.partition("?")[2])
    return query.group("password") if query and query.group("password") else None


def url_scheme(url: str) -> str:
    """The scheme of ``url`` in lower case, driver included: ``mysql+pymysql``, ``sqlite``."""
    return url.split("://", 1)[0].lower() if "://" in url else url.split(":", 1)[0].lower()


def url_dialect(url: str) -> str:
    """The database of ``url`` without its driver: ``mysql`` for ``mysql+pymysql://``."""
    return url_scheme(url).split("+", 1)[0]


def is_sqlite(url: str) -> bool:
    """True for ``sqlite://`` URLs (any SQLAlchemy sqlite driver)."""
    return url_dialect(url) == "sqlite"


def is_mysql(url: str) -> bool:
    """True for ``mysql://`` URLs (any driver: mysqlclient, pymysql, ...)."""
    return url_dialect(url) == "mysql"


def sqlite_path(url: str) -> str | None:
    """The file path of a SQLite URL, or None for in-memory databases and other backends."""
    if not is_sqlite(url):
        return None
    _, _, rest = url.partition(":///")
    path = rest.split("?", 1)[0]
    if not path or path == ":memory:":
        return None
    return path


def absolute_sqlite_url(url: str, cwd: str | None = None) -> str:
    """Make a relative SQLite path absolute, so executors whose working directory differs
    from the driver's still open the same file."""
    path = sqlite_path(url)
    if path is None or os.path.isabs(path):
        return url
    scheme, _, rest = url.partition(":///")
    query = rest[len(path) :]
    absolute = os.path.normpath(os.path.join(cwd or os.getcwd(), path))
    return f"{scheme}:///{absolute}{query}"


def default_storage_url(cwd: str | None = None) -> str:
    """The embedded default: a SQLite file named optuna-spark.db in the working directory."""
    return absolute_sqlite_url("sqlite:///optuna-spark.db", cwd)


_URL_IN_TEXT_RE = re.compile(r"[A-Za-z][\w+.-]*://[^\s'\"<>]+")


def mask_urls_in_text(text: str) -> str:
    """Mask the password of every URL inside free text (error messages, log lines)."""
    return _URL_IN_TEXT_RE.sub(lambda m: mask_url(m.group(0)), text)
