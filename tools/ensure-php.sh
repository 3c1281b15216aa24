#!/usr/bin/env bash
# Makes sure PHP with Debian's Illuminate HTTP client and query builder (Laravel 8), Guzzle and
# the PDO drivers for SQLite and PostgreSQL exist, for the Laravel interop suite (tests/php/).
# Uses the machine's copies when present, else installs Debian's php-cli, php-laravel-framework,
# php-guzzlehttp-guzzle, php-sqlite3 and php-pgsql (needs root and apt).
set -euo pipefail
libraries=(/usr/share/php/Illuminate/Http/autoload.php /usr/share/php/Illuminate/Database/autoload.php
  /usr/share/php/GuzzleHttp/autoload.php)
packages=(php-cli php-laravel-framework php-guzzlehttp-guzzle php-sqlite3 php-pgsql)
have_all() {
  command -v php >/dev/null 2>&1 || return 1
  for library in "${libraries[@]}"; do [ -f "$library" ] || return 1; done
  php -r 'exit(count(array_diff(["sqlite", "pgsql"], PDO::getAvailableDrivers())));' || return 1
}
if have_all; then
  echo "php: $(command -v php) with Illuminate\\Http, Illuminate\\Database, GuzzleHttp, pdo_sqlite, pdo_pgsql"
  exit 0
fi
echo "php: installing Debian's ${packages[*]}"
if [ "$(id -u)" != 0 ]; then
  echo "php: not root; apt-get install ${packages[*]} and retry" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
have_all || { echo "php: installed, but the libraries are still missing" >&2; exit 1; }
echo "php: $(command -v php)"
