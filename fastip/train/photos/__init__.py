"""Real photographs from Debian packages: a curated catalogue, a checksummed cache and its index."""

from fastip.train.photos.cache import Photo, cache_dir, fetch, load_index, verify

__all__ = ["Photo", "cache_dir", "fetch", "load_index", "verify"]
