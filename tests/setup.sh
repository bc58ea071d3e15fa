#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian 12 machine, idempotently:
# system packages (real ImageMagick, GIMP 2.10, Chromium, mmdebstrap), the Python
# environment with torch pinned to the local CPU wheel, and the cached GIMP 3 root.
set -euo pipefail
venv=${1:-.venv}
need_apt=()
command -v magick >/dev/null || dpkg -s imagemagick >/dev/null 2>&1 || need_apt+=(imagemagick)
dpkg -s gimp >/dev/null 2>&1 || need_apt+=(gimp)
dpkg -s chromium >/dev/null 2>&1 || need_apt+=(chromium)
dpkg -s mmdebstrap >/dev/null 2>&1 || need_apt+=(mmdebstrap)
# The GIMP 3 dialog tests draw it on a virtual screen and find its window there.
dpkg -s xvfb >/dev/null 2>&1 || need_apt+=(xvfb)
dpkg -s xdotool >/dev/null 2>&1 || need_apt+=(xdotool)
dpkg -s tesseract-ocr-eng >/dev/null 2>&1 || need_apt+=(tesseract-ocr tesseract-ocr-eng)
# The fonts core/synthetic.py renders catalog text with (training and held-out sets).
for font in fonts-dejavu-core fonts-liberation fonts-noto-core fonts-freefont-ttf fonts-roboto-unhinted \
            fonts-open-sans fonts-lato fonts-urw-base35; do
  dpkg -s "$font" >/dev/null 2>&1 || need_apt+=("$font")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
test -x "$venv/bin/python" || python3 -m venv "$venv"
pip="$venv/bin/python -m pip install --quiet --disable-pip-version-check"
# The CPU wheel of torch; an unpinned torch would pull a multi-GB CUDA build.
$pip torch==2.13.0
$pip -e ".[cpu,train,dev,ray]"
if [ -x tests/gimp3/make-root.sh ]; then
  bash tests/gimp3/make-root.sh
fi
