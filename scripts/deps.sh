#!/usr/bin/env bash
# Installs the Debian packages the build and tests need, only when something is missing.
# chromium + chromium-driver: the web page's tests (Tests/Web) drive a real headless browser.
# postgresql: scripts/pg-cluster.sh runs a throwaway cluster for the PostgreSQL backend's tests.
# openssl: the certificate for the test of `simulate` over https.
set -euo pipefail
need=()
for pkg in libsqlite3-dev libncursesw5-dev libcurl4-openssl-dev tmux curl python3-venv chromium chromium-driver postgresql openssl; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
