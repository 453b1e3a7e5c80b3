"""Serving beyond one process: Triton/KServe model repositories and Ray Data batch processing."""
