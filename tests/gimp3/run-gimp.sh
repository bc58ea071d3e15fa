#!/usr/bin/env bash
# Runs GIMP 3.0 headless (gimp-console-3.0, batch Python) inside the root made by make-root.sh.
#
# Usage: run-gimp.sh [-r PATH]... [-w PATH]... [-d N] [-s] HOME CODE
#   -r PATH  host folder or file visible read-only inside the root at the same path
#            (the sr-scale installation the plug-in calls, the checkout of an editable install)
#   -w PATH  the same, writable (the test's I/O folder)
#   -d N     the full GIMP (gimp-3.0, with its windows) on the host's X display :N (an Xvfb),
#            whose socket folder /tmp/.X11-unix is bound in; the batch code runs once it is up
#   -s       CODE is Script-Fu (plug-in-script-fu-eval), not Python (python-fu-eval)
#   HOME     writable host folder used as HOME; GIMP's profile is HOME/config/GIMP/3.0
#
# A private mount namespace keeps every mount away from the host and gone when GIMP exits;
# GIMP starts with a clean environment, so nothing of the host's setup leaks in by accident.
# Exit status: GIMP's (0 success, 64 when the batch code raised).
set -euo pipefail
root=${SR_SCALE_GIMP3_ROOT:-/var/cache/sr-scale/gimp3-root}
ro=() rw=() display="" interpreter=python-fu-eval
while getopts "r:w:d:s" flag; do
  case $flag in
    r) ro+=("$(realpath -s "$OPTARG")") ;;
    w) rw+=("$(realpath -s "$OPTARG")") ;;
    d) display=$OPTARG rw+=(/tmp/.X11-unix) ;;
    s) interpreter=plug-in-script-fu-eval ;;
    *) exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -eq 2 ] || { echo "usage: run-gimp.sh [-r PATH]... [-w PATH]... [-d N] [-s] HOME CODE" >&2; exit 2; }
home=$(realpath "$1") code=$2
[ -x "$root/usr/bin/gimp-console-3.0" ] || { echo "run-gimp.sh: no GIMP 3 root in $root (run tests/gimp3/make-root.sh)" >&2; exit 1; }

exec unshare --mount --propagation private bash -s -- "$root" "$home" "$code" "$display" "$interpreter" "${#ro[@]}" "${ro[@]}" "${rw[@]}" "$home" <<'INSIDE'
set -euo pipefail
root=$1 home=$2 code=$3 display=$4 interpreter=$5 n_ro=$6
shift 6
mount -t proc proc "$root/proc"              # onnxruntime reads /proc/cpuinfo
mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"  # the plug-in's private temporary files
mount -t tmpfs tmpfs "$root/dev/shm"
targets=() tops=()  # each bind's mount point, and the first folder of its path this run created
bind() {  # bind HOST_PATH at the same path inside the root; $2 = ro|rw
  local target=$root$1 top=$root$1
  while [ ! -e "$(dirname "$top")" ]; do top=$(dirname "$top"); done
  if [ -e "$top" ]; then top=""; fi  # nothing to create
  if [ -d "$1" ]; then mkdir -p "$target"; else mkdir -p "$(dirname "$target")"; touch "$target"; fi
  mount --bind "$1" "$target"
  if [ "$2" = ro ]; then mount -o remount,bind,ro "$target"; fi
  targets+=("$target") tops+=("$top")
}
i=0
for path in "$@"; do
  if [ $i -lt "$n_ro" ]; then bind "$path" ro; else bind "$path" rw; fi
  i=$((i + 1))
done
status=0
gimp=(gimp-console-3.0 -i) screen=()
if [ -n "$display" ]; then gimp=(gimp-3.0 --no-splash) screen=(DISPLAY=":$display"); fi
chroot "$root" env -i PATH=/usr/bin:/bin LANG=C.UTF-8 HOME="$home" "${screen[@]}" \
  XDG_CONFIG_HOME="$home/config" XDG_CACHE_HOME="$home/cache" XDG_DATA_HOME="$home/data" \
  "${gimp[@]}" -n --quit --batch-interpreter="$interpreter" -b "$code" || status=$?
# Leave the cached root as it was: unmount (last mounted first: a bind over the folder of an earlier one hides it), then remove the empty mount points
# this run created. Only rmdir and empty-file removal: nothing with content is ever deleted.
for target in $(awk -v r="$root/" 'index($2, r) == 1 {print $2}' /proc/self/mounts | tac); do
  umount "$target" 2>/dev/null || true
done
for ((i = ${#targets[@]} - 1; i >= 0; i--)); do
  target=${targets[i]} top=${tops[i]}
  [ -n "$top" ] && ! mountpoint -q "$target" || continue
  if [ -d "$target" ]; then rmdir "$target" 2>/dev/null || continue; elif [ -f "$target" ] && [ ! -s "$target" ]; then rm -f "$target"; fi
  dir=$(dirname "$target")
  while [ ${#dir} -ge ${#top} ] && rmdir "$dir" 2>/dev/null; do dir=$(dirname "$dir"); done
done
exit $status
INSIDE
