#!/usr/bin/env bash
# Headless LibreOffice Calc from Debian, for the test that opens every produced workbook as a real
# consumer would (converting it to PDF). Idempotent.
set -euo pipefail
if command -v soffice >/dev/null; then exit 0; fi
echo "libreoffice: installing libreoffice-calc-nogui from Debian" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends libreoffice-calc-nogui >/dev/null
