"""`sr-scale`: a command-line drop-in for ImageMagick's enlargement step."""
