#!/usr/bin/env bash
# Checks the machine has what LeadFlow needs: Python 3.11, Java 17, Maven, PostgreSQL 15 binaries
# and, with the argument `test`, Chromium. As root on Debian it installs what is missing; otherwise it says what to install.
set -euo pipefail
missing=()
command -v python3 >/dev/null || missing+=(python3 python3-venv)
command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || missing+=(maven)
command -v curl >/dev/null || missing+=(curl)
# Browser tests drive a real headless Chromium; `make run` does not need it.
[[ "${1:-}" != "test" ]] || command -v chromium >/dev/null || missing+=(chromium)
[[ -x /usr/lib/postgresql/15/bin/initdb || -n "${LEADFLOW_PG_BIN:-}" || -n "${DATABASE_URL:-}" ]] \
  || missing+=(postgresql-15)
((${#missing[@]} == 0)) && exit 0

if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
  echo "[leadflow] installing: ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "[leadflow] missing: ${missing[*]} (install them, e.g. with apt-get)" >&2
  exit 1
fi
