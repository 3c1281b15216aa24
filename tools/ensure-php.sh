#!/usr/bin/env bash
# Makes sure PHP with Debian's Illuminate HTTP client (Laravel 8) and Guzzle exist, for the
# Laravel interop suite (tests/php/). Uses the machine's copies when present, else installs
# Debian's php-cli, php-laravel-framework and php-guzzlehttp-guzzle (needs root and apt).
set -euo pipefail
libraries=(/usr/share/php/Illuminate/Http/autoload.php /usr/share/php/GuzzleHttp/autoload.php)
have_all() {
  command -v php >/dev/null 2>&1 || return 1
  for library in "${libraries[@]}"; do [ -f "$library" ] || return 1; done
}
if have_all; then
  echo "php: $(command -v php) with Illuminate\\Http and GuzzleHttp"
  exit 0
fi
echo "php: installing Debian's php-cli php-laravel-framework php-guzzlehttp-guzzle"
if [ "$(id -u)" != 0 ]; then
  echo "php: not root; apt-get install php-cli php-laravel-framework php-guzzlehttp-guzzle and retry" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends php-cli php-laravel-framework php-guzzlehttp-guzzle >/dev/null
have_all || { echo "php: installed, but the libraries are still missing" >&2; exit 1; }
echo "php: $(command -v php)"
