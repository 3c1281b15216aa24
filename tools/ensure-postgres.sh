#!/usr/bin/env bash
# Makes sure PostgreSQL server binaries (initdb, pg_ctl, postgres) exist, for the
# test suite's throwaway databases. Uses the machine's binaries when present,
# else installs Debian's `postgresql` package (needs root and the apt registry).
set -euo pipefail
for dir in $(command -v initdb >/dev/null 2>&1 && dirname "$(command -v initdb)") /usr/lib/postgresql/*/bin; do
  if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && [ -x "$dir/postgres" ]; then
    echo "postgresql: $dir"
    exit 0
  fi
done
echo "postgresql: server binaries not found, installing Debian's postgresql package"
if [ "$(id -u)" != 0 ]; then
  echo "postgresql: not root; install PostgreSQL server binaries (apt-get install postgresql) and retry" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends postgresql >/dev/null
ls -d /usr/lib/postgresql/*/bin
