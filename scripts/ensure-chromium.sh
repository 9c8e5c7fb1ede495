#!/usr/bin/env bash
# The shopper-journey tests drive the system's Chromium; install Debian's packages when they are missing.
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "error: Chromium is missing. Install it: apt-get install chromium chromium-driver (as root)" >&2
    exit 1
  fi
else
  SUDO=
fi
echo "installing chromium and chromium-driver from Debian's packages…"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
