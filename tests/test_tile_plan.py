"""Tiles planned per image (core/tiling.plan_tiles, Upscaler.plan): less overlap waste, every core
busy on thumbnails, memory within the contract, and the same pixels as a whole-image pass."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sr_scale.core.engine import (DEFAULT_TILE, MEMORY_LIMIT_MIB, MEMORY_LIMIT_OUTPUT_FACTOR, MIB,
                                  PROCESS_MIB, Upscaler, activation_bytes_per_read_pixel)
from sr_scale.core.tiling import plan_tiles, planned_tiles, tiles

RADIUS = 16  # the shipped models' receptive radius (LR pixels)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 300), st.integers(1, 300), st.integers(0, 20), st.integers(1, 200_000), st.integers(1, 4))
def test_planned_tiles_cover_every_pixel_once_within_the_budget(height, width, overlap, budget, workers):
    plan = plan_tiles(height, width, overlap, budget, workers)
    covered = np.zeros((height, width), int)
    reads = 0
    for t in planned_tiles(height, width, plan, overlap):
        covered[t.core_y0:t.core_y1, t.core_x0:t.core_x1] += 1
        area = (t.read_y1 - t.read_y0) * (t.read_x1 - t.read_x0)
        assert area <= max(budget, (3 * overlap + 2) ** 2)
        assert t.read_y0 <= max(0, t.core_y0 - overlap) and t.read_y1 >= min(height, t.core_y1 + overlap)  # full context kept
        reads += area
    assert (covered == 1).all()
    assert reads == plan.executed and plan.useful == height * width


@pytest.mark.parametrize("size", [256, 1024, 2048, 4096, 8000])
def test_plan_never_runs_more_than_square_tiles_of_the_same_memory(size):
    budget = (DEFAULT_TILE + 2 * RADIUS) ** 2
    square = sum((t.read_y1 - t.read_y0) * (t.read_x1 - t.read_x0) for t in tiles(size, size, DEFAULT_TILE, RADIUS))
    assert plan_tiles(size, size, RADIUS, budget, workers=2).executed <= square


def test_with_memory_for_3x3_tiles_a_1024_image_runs_at_most_15_percent_extra():
    plan = plan_tiles(1024, 1024, RADIUS, 140_000, workers=1)
    assert plan.work_ratio <= 1.15


def test_a_thumbnail_smaller_than_one_tile_is_split_across_the_cores():
    assert plan_tiles(96, 96, RADIUS, (DEFAULT_TILE + 2 * RADIUS) ** 2, workers=2).rows * \
        plan_tiles(96, 96, RADIUS, (DEFAULT_TILE + 2 * RADIUS) ** 2, workers=2).cols == 2
    assert plan_tiles(96, 96, RADIUS, (DEFAULT_TILE + 2 * RADIUS) ** 2, workers=1).executed == 96 * 96


def test_wide_images_get_strips():
    plan = plan_tiles(100, 1000, RADIUS, (DEFAULT_TILE + 2 * RADIUS) ** 2, workers=2)
    assert plan.rows == 1 and plan.work_ratio < 1.2


@pytest.mark.parametrize("size", [1024, 2048, 4096, 8000])
def test_default_plan_keeps_the_memory_contract_up_to_8000(size):
    """What the engine's default plan may hold (tiles in flight at the measured bytes per read
    pixel, input, allocator slack, output, the process) stays under docs/performance.md's limit; bench/memory.py measures it."""
    upscaler = Upscaler("x2", threads=2)
    plan = upscaler.plan(size, size)
    per_pixel = activation_bytes_per_read_pixel(upscaler.info, upscaler.precision)
    output = (2 * size) ** 2 * 3
    # the input twice: once itself, once the allocator's slack (engine.tile_memory_budget)
    held = upscaler.workers * plan.max_read_pixels * per_pixel + output + 2 * size * size * 3 + PROCESS_MIB * MIB
    floor = upscaler.workers * (DEFAULT_TILE + 2 * RADIUS) ** 2 * per_pixel + output + 2 * size * size * 3 + PROCESS_MIB * MIB
    assert held <= max(MEMORY_LIMIT_OUTPUT_FACTOR * output + MEMORY_LIMIT_MIB * MIB, floor)
    assert plan.work_ratio <= plan_tiles(size, size, RADIUS, (DEFAULT_TILE + 2 * RADIUS) ** 2, 2).work_ratio


def test_thumbnail_runs_whole_on_both_cores_and_equals_the_whole_image_pass(butterfly):
    thumb = np.ascontiguousarray(butterfly[80:176, 60:156])  # 96x96, a real photo
    two = Upscaler("x2", threads=2)
    plan = two.plan(96, 96)
    assert two.workers == 2 and plan.rows * plan.cols == 1
    session = two.session_for(plan)
    assert session is not two.session and session.get_session_options().intra_op_num_threads == 2
    assert two.session_for(two.plan(1024, 1024)) is two.session  # larger: tiles in parallel, one thread each
    whole = Upscaler("x2", tile=0).upscale(thumb)
    assert np.abs(two.upscale(thumb).astype(int) - whole).max() <= 1


def test_default_plan_equals_the_whole_image_pass_on_a_wide_photo(butterfly, tiny_onnx):
    wide = np.ascontiguousarray(np.concatenate([butterfly, butterfly[:, ::-1]], axis=1)[:120])  # 120x512: strips
    planned = Upscaler(tiny_onnx, threads=2, tile=64)  # the tiny model is narrow: capped, so that it tiles
    assert planned.plan(120, 512).rows * planned.plan(120, 512).cols > 1
    assert np.abs(planned.upscale(wide).astype(int) - Upscaler(tiny_onnx, tile=0).upscale(wide)).max() <= 1


def test_activation_bytes_follow_the_models_width_and_precision():
    """x2 (G0 + C*G = D*G0 = 128 channels): float32 twice and more int8's bytes; a model without
    arch metadata is budgeted as a wide float32 one."""
    x2 = Upscaler("x2", precision="float32").info
    assert activation_bytes_per_read_pixel(x2, "float32") == 128 * 16
    assert activation_bytes_per_read_pixel(x2, "int8") == round(128 * 5.5)
    bare = type(x2)(x2.scale, x2.receptive_radius, {})
    assert activation_bytes_per_read_pixel(bare, "float32") == 4096
