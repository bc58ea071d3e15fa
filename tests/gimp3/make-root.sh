#!/usr/bin/env bash
# Builds the Debian trixie root that provides GIMP 3.0 (with Python 3.13 and PyGObject) for the
# GIMP plug-in tests, once, outside the checkout. Debian 12 ships only GIMP 2.10 without Python,
# and trixie must never be added to the host's own apt sources, hence a separate root.
#
# Idempotent: a finished root carries a stamp and is reused in well under a second. The build
# goes to a temporary folder renamed into place, so an interrupted run never leaves a half root.
# Usage: make-root.sh [ROOT]   (default $SR_SCALE_GIMP3_ROOT or /var/cache/sr-scale/gimp3-root)
set -euo pipefail
root=${1:-${SR_SCALE_GIMP3_ROOT:-/var/cache/sr-scale/gimp3-root}}
packages=gimp
stamp="$root/.sr-scale-root"

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$packages" ] && [ -x "$root/usr/bin/gimp-console-3.0" ]; then
  exit 0
fi
command -v mmdebstrap >/dev/null || { echo "make-root.sh: mmdebstrap is not installed (apt-get install mmdebstrap)" >&2; exit 1; }
if [ -e "$root" ] && [ ! -f "$stamp" ] && [ -n "$(ls -A "$root")" ]; then
  echo "make-root.sh: $root exists and is not a root made by this script; remove it or choose another path" >&2
  exit 1
fi
# The Debian archive: $SR_SCALE_DEBIAN_MIRROR if set, else the one this machine's own apt sources
# use (a local or company mirror keeps working), else none, and mmdebstrap picks its default.
mirror=${SR_SCALE_DEBIAN_MIRROR:-$(apt-get indextargets --format '$(REPO_URI)' 'Label: Debian' 'Identifier: Packages' 2>/dev/null | head -n 1)}
mkdir -p "$(dirname "$root")"
building="$root.building"
rm -rf --one-file-system "$building" "$root"  # an unfinished build, or a root for an older package list
# ~35 s and ~640 MB: minbase plus GIMP 3.0 and what it depends on (python3.13, python3-gi).
mmdebstrap --quiet --variant=minbase --include="$packages" \
  --aptopt='APT::Install-Recommends "false"' \
  --customize-hook='chroot "$1" apt-get clean' \
  trixie "$building" ${mirror:+"$mirror"}
echo "$packages" > "$building/.sr-scale-root"
mv "$building" "$root"
echo "make-root.sh: GIMP 3 root ready in $root ($(du -sh "$root" | cut -f1))"
