"""The GIMP 3 filter "AI Upscale 2x": pixel exchange (pixels.py) and its installer (install.py)."""
