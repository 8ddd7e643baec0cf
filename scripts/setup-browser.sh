#!/usr/bin/env bash
# Make sure a headless Chromium is here for the report's browser test (tests/test_html_report.py).
# Prints the browser's path. Installs Debian's chromium package when run as root with apt-get;
# otherwise says what to install. Set OPTUNA_SPARK_CHROMIUM to use another Chromium binary.
set -euo pipefail

if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  cat <<'USAGE'
Usage: scripts/setup-browser.sh
Print the path of a headless Chromium for the report's browser test, installing Debian's
chromium package first when none is found (as root with apt-get; otherwise it says what to
install). OPTUNA_SPARK_CHROMIUM names another Chromium binary to use.
USAGE
  exit 0
fi

found() {
  local candidate
  for candidate in "${OPTUNA_SPARK_CHROMIUM:-}" chromium chromium-browser google-chrome; do
    [[ -n "$candidate" ]] && command -v "$candidate" 2>/dev/null && return 0
  done
  return 1
}

if found >/dev/null; then
  found
  exit 0
fi
if [[ "$(id -u)" != "0" ]] || ! command -v apt-get >/dev/null 2>&1; then
  echo "setup-browser.sh: no Chromium found; install one (Debian/Ubuntu: sudo apt-get install chromium) or set OPTUNA_SPARK_CHROMIUM to its path, and run this again." >&2
  exit 1
fi
echo "setup-browser.sh: installing Debian's chromium package (headless browser for the report test)" >&2
apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null; }
found
