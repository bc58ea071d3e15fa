"""Turn a trained RDN checkpoint into the ONNX model the inference engine runs."""
