"""Self-ensemble (tta) memory: one float32 image beyond the result (its values: test_cli_enlarge)."""
import tracemalloc

import numpy as np

from sr_scale.core.engine import Upscaler


def test_tta_holds_one_float32_output_beyond_the_result(tiny_onnx, butterfly):
    """The docstring's promise: beyond the input and output, one float32 output and tiles. Summing
    the views with `total + sr` held three float32 outputs at the peak (sum, view, new sum)."""
    upscaler = Upscaler(tiny_onnx, threads=1, tile=32, tta=True)
    upscaler.upscale(butterfly[:40, :40])  # onnxruntime's first-run allocations are not the point
    tracemalloc.start()
    try:
        result = upscaler.upscale(butterfly)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    float_output = result.size * np.dtype(np.float32).itemsize
    assert peak - result.nbytes - butterfly.nbytes < 1.5 * float_output, (peak, float_output)

