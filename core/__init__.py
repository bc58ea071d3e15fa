"""sr-scale core: the RDN model and its training (torch), and the torch-free inference engine."""

__version__ = "0.1.0"
