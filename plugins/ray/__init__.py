"""sr-scale-ray: enlarge a catalog of images on a Ray cluster (Ray Data, one onnxruntime session per actor)."""
