#!/usr/bin/env bash
# Headless LibreOffice Calc from Debian, for the tests that open every produced workbook as a real
# consumer would (converting it to PDF), and poppler-utils (pdftotext, pdftoppm) to read those PDFs
# page by page and save a page as an image. Idempotent.
set -euo pipefail
wanted=()
command -v soffice >/dev/null || wanted+=(libreoffice-calc-nogui)
command -v pdftoppm >/dev/null || wanted+=(poppler-utils)
if [ "${#wanted[@]}" -eq 0 ]; then exit 0; fi
echo "libreoffice: installing ${wanted[*]} from Debian" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${wanted[@]}" >/dev/null
