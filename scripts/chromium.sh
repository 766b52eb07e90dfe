#!/usr/bin/env bash
# Debian's headless Chromium, for the test that approves an alert in the real Prefect UI (Playwright
# drives /usr/bin/chromium; no browser is ever downloaded). Idempotent.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then exit 0; fi
echo "chromium: installing chromium from Debian" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq chromium >/dev/null
