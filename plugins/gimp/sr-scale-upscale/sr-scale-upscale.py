#!/usr/bin/env python3
"""GIMP 3 filter Filters > Enhance > "AI Upscale 2x": doubles the image, the selected layers
enlarged by sr-scale's Residual Dense Network, the others by GIMP's own scaling.

Glue only: arguments, dialog, undo group and error statuses. The pixel work is in
sr_scale/gimp/pixels.py, copied next to this file by `sr-scale-gimp install` (or `bundle`, which
adds sr-scale's engine, numpy and onnxruntime for GIMP's own Python).
"""
import os
import sys
from pathlib import Path

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, Gio, GLib, GObject  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sr_scale.gimp import pixels  # noqa: E402

PROCEDURE = "plug-in-sr-scale-upscale"
PLUG_IN_FOLDER = Path(__file__).resolve().parent
U8_PRECISIONS = (Gimp.Precision.U8_LINEAR, Gimp.Precision.U8_NON_LINEAR, Gimp.Precision.U8_PERCEPTUAL)


def channels_of(drawable):
    return (1 if drawable.is_gray() else 3) + (1 if drawable.has_alpha() else 0)


def read_layer(drawable, channels, depth, box=None):
    """The layer's pixels, or those of box = (left, top, width, height)."""
    left, top, width, height = box or (0, 0, drawable.get_width(), drawable.get_height())
    data = drawable.get_buffer().get(Gegl.Rectangle.new(left, top, width, height), 1.0,
                                     pixels.babl_format(channels, depth), Gegl.AbyssPolicy.CLAMP)
    return pixels.LayerPixels(width, height, channels, depth, bytes(data))


def write_layer(drawable, sr):
    width, height = drawable.get_width(), drawable.get_height()
    if (width, height) != (sr.width, sr.height):
        raise pixels.UpscaleError(f"layer {drawable.get_name()!r} is {width}x{height} after scaling, not {sr.width}x{sr.height}")
    shadow = drawable.get_shadow_buffer()
    shadow.set(Gegl.Rectangle.new(0, 0, sr.width, sr.height), sr.babl_format, sr.data)
    shadow.flush()
    drawable.merge_shadow(True)
    drawable.update(0, 0, sr.width, sr.height)


def read_png(path, channels, depth):
    """Decode sr-scale's output with GIMP's own PNG loader, in the layer's layout."""
    image = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(str(path)))
    try:
        return read_layer(image.get_layers()[0], channels, depth)
    finally:
        image.delete()


def jpeg_settings(image):
    """The bytes of the "jpeg-settings" parasite GIMP's JPEG loader attaches; None for other images."""
    parasite = image.get_parasite("jpeg-settings")
    return bytes(parasite.get_data()) if parasite is not None else None


def content_lock(layer):
    """The name of the layer, or of the group above it, whose pixels are locked; None when none is.
    Checked before the image is touched: GIMP refuses to write locked pixels only after scaling."""
    item = layer
    while item is not None:
        if item.get_lock_content():
            return item.get_name()
        item = item.get_parent()
    return None


def enlarge_layers(upscale_layer, layers, depth, options):
    """Every selected layer enlarged by the model, before the image is touched at all."""
    results = []
    for index, layer in enumerate(layers):
        def progress(fraction, index=index):
            Gimp.progress_update((index + fraction) / len(layers))

        lr = read_layer(layer, channels_of(layer), depth)
        sr = upscale_layer(lr, options, progress)
        if (sr.width, sr.height) != (lr.width * pixels.SCALE, lr.height * pixels.SCALE):
            raise pixels.UpscaleError(f"the engine returned {sr.width}x{sr.height} for the {lr.width}x{lr.height} layer {layer.get_name()!r}")
        progress(1.0)
        results.append((layer, sr))
    return results


def error(procedure, status, message):
    return procedure.new_return_values(status, GLib.Error(f"AI Upscale 2x: {message}"))


def upscale(procedure, run_mode, image, drawables, config, data):
    layers = [d for d in drawables if isinstance(d, Gimp.Layer) and not d.is_group()]  # not masks, channels, groups
    if not layers:
        return error(procedure, Gimp.PDBStatusType.CALLING_ERROR, "select at least one pixel layer")
    locked = [name for name in map(content_lock, layers) if name is not None]
    if locked:
        return error(procedure, Gimp.PDBStatusType.EXECUTION_ERROR,
                     f"the pixels of layer {locked[0]!r} are locked: unlock them (Layers dialog) and run again")
    try:  # a bundle built for another Python says so here, before any dialog
        upscale_layer = pixels.upscaler_for(PLUG_IN_FOLDER, read_png, Gimp.progress_pulse)
    except pixels.UpscaleError as problem:
        return error(procedure, Gimp.PDBStatusType.EXECUTION_ERROR, problem)
    depth = 1 if image.get_precision() in U8_PRECISIONS else 2

    if run_mode == Gimp.RunMode.INTERACTIVE:
        gi.require_version("GimpUi", "3.0")
        from gi.repository import GimpUi

        GimpUi.init(PROCEDURE)
        dialog = GimpUi.ProcedureDialog.new(procedure, config, "AI Upscale 2x")
        notes = [pixels.engine_note(PLUG_IN_FOLDER)]
        # sr-scale's input-aware choice (JPEG quality, text), as the default the user can still change here.
        box = pixels.advice_box(layers[0].get_width(), layers[0].get_height())
        advice = pixels.input_advice(jpeg_settings(image), box and read_layer(layers[0], channels_of(layers[0]), depth, box))
        if advice is not None and not config.get_property("model-file"):
            config.set_property("model", advice.model)
            notes.insert(0, advice.note)
        dialog.get_label("notes", "\n".join(notes), False, False)
        dialog.fill(["model", "model-file", "tile", "device", "notes"])
        accepted = dialog.run()
        dialog.destroy()
        if not accepted:
            return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())

    options = pixels.Options(model=config.get_property("model"), model_file=config.get_property("model-file"),
                             tile=config.get_property("tile"), device=config.get_property("device"))

    Gimp.progress_init("AI Upscale 2x")
    try:
        results = enlarge_layers(upscale_layer, layers, depth, options)
    except (pixels.UpscaleError, OSError, MemoryError, ValueError) as problem:  # the image is still untouched here
        return error(procedure, Gimp.PDBStatusType.EXECUTION_ERROR, str(problem) or type(problem).__name__)

    # Everything that can be checked was checked above; what fails from here on is GIMP itself.
    Gimp.context_push()
    image.undo_group_start()
    try:
        Gimp.context_set_interpolation(Gimp.InterpolationType.NOHALO)  # for the layers the model does not touch
        image.scale(image.get_width() * pixels.SCALE, image.get_height() * pixels.SCALE)
        for layer, sr in results:
            write_layer(layer, sr)
    except (pixels.UpscaleError, GLib.Error) as problem:
        return error(procedure, Gimp.PDBStatusType.EXECUTION_ERROR,
                     f"{getattr(problem, 'message', problem)} (the image was changed: Edit > Undo puts it back)")
    finally:
        image.undo_group_end()
        Gimp.context_pop()
    Gimp.displays_flush()
    return procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())


class SrScaleUpscale(Gimp.PlugIn):
    def do_query_procedures(self):
        return [PROCEDURE]

    def do_set_i18n(self, name):
        return False

    def do_create_procedure(self, name):
        procedure = Gimp.ImageProcedure.new(self, name, Gimp.PDBProcType.PLUGIN, upscale, None)
        procedure.set_image_types("RGB*, GRAY*")
        procedure.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE | Gimp.ProcedureSensitivityMask.DRAWABLES)
        procedure.set_menu_label("AI Upscale 2x")
        procedure.add_menu_path("<Image>/Filters/Enhance")
        procedure.set_documentation(
            "Double the image size with a neural network",
            "Doubles the image. The selected layers are enlarged by sr-scale's Residual Dense Network "
            "(tile by tile, alpha kept), the other layers by GIMP's own scaling; one undo step.",
            name)
        procedure.set_attribution("sr-scale authors", "sr-scale authors", "2026")

        models = Gimp.Choice.new()
        for index, (model, label) in enumerate(pixels.MODELS.items()):
            models.add(model, index, label, "")
        procedure.add_choice_argument("model", "_Model", "Embedded model", models, pixels.DEFAULT_MODEL, GObject.ParamFlags.READWRITE)
        procedure.add_string_argument("model-file", "Model _file", "Path to an .onnx model; replaces Model when set",
                                      "", GObject.ParamFlags.READWRITE)
        procedure.add_int_argument("tile", "_Tile size", "Input pixels per tile side (0 = whole layer at once)",
                                   0, 4096, pixels.DEFAULT_TILE, GObject.ParamFlags.READWRITE)
        devices = Gimp.Choice.new()
        for index, device in enumerate(pixels.DEVICES):
            devices.add(device, index, device.upper() if device != "auto" else "Auto (GPU if available)", "")
        procedure.add_choice_argument("device", "_Device", "Where the model runs", devices, pixels.DEVICES[0], GObject.ParamFlags.READWRITE)
        return procedure


Gimp.main(SrScaleUpscale.__gtype__, sys.argv)
