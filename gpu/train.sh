#!/usr/bin/env bash
# Train a packed config (gpu/pack_data.py) on a GPU machine for a fixed number of minutes.
#
#   bash gpu/train.sh PACK MINUTES OUT [sr-train options...]
#
# Runs from a plain copy of the checkout, with no network and nothing installed: the checkout's
# folders are put on PYTHONPATH as the sr_scale package, and wheels in PACK/wheels (tomli-w, the
# one training dependency such machines lack) are unpacked beside them. Batches are cut by
# nproc - 2 worker processes; CUDA, bf16 autocast and channels_last are sr-train's defaults there.
# sr-train stops after MINUTES with OUT/last.pt (continue with --resume) and OUT/best.pt.
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: gpu/train.sh PACK MINUTES OUT [sr-train options...]" >&2; exit 2; }
pack=$(cd "$1" && pwd); minutes=$2; mkdir -p "$3"; out=$(cd "$3" && pwd); shift 3
checkout=$(cd "$(dirname "$0")/.." && pwd)
site=$(mktemp -d)
mkdir -p "$site/sr_scale"
ln -s "$checkout/core" "$site/sr_scale/core"
ln -s "$checkout/exporter" "$site/sr_scale/exporter"
if compgen -G "$pack/wheels/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target "$site" "$pack"/wheels/*.whl
fi
export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
workers=$(( $(nproc) > 3 ? $(nproc) - 2 : 0 ))
cd "$pack"  # the packed config's paths are relative to the pack
python3 - <<'PY'
import torch
print(f"torch {torch.__version__}, device: {torch.cuda.get_device_name() if torch.cuda.is_available() else 'CPU (no CUDA)'}")
PY
python3 -m sr_scale.core.train --config config.toml --out "$out" \
  --set "max_minutes=$minutes" --set "loader_workers=$workers" "$@"
