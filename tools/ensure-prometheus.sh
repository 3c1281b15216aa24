#!/usr/bin/env bash
# Makes sure `prometheus` and `promtool` exist, for the metrics test (a real Prometheus
# scrapes the service and Envoy) and for checking deploy/prometheus alert rules.
# Uses the machine's binaries when present, else installs Debian's `prometheus` package
# (needs root and the apt registry). Its systemd unit is not started: tests run their own.
set -euo pipefail
if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
  echo "prometheus: $(command -v prometheus)"
  exit 0
fi
echo "prometheus: not found, installing Debian's prometheus package"
if [ "$(id -u)" != 0 ]; then
  echo "prometheus: not root; install it (apt-get install prometheus) and retry" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# policy-rc.d keeps the package's init script from starting a server during the install.
policy=/usr/sbin/policy-rc.d
created=0
if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created=1; fi
trap 'if [ "$created" = 1 ]; then rm -f "$policy"; fi' EXIT
apt-get install -y -qq --no-install-recommends prometheus >/dev/null
command -v prometheus promtool
