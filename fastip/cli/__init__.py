"""Console scripts: thin argparse layers over the public API."""
