"""sr-scale: 2x super-resolution with a Residual Dense Network.

Subpackages map onto the checkout's folders: core/ (model, training, inference engine),
exporter/ (ONNX export), plugins/imagemagick_wrapper/ (the sr-scale command), plugins/gimp/.
"""
