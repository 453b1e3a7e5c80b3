"""The one exception family fastip raises; the CLI prints its message and exits non-zero."""


class FastipError(Exception):
    """Base of every error fastip raises on purpose."""


class MissingDependencyError(FastipError):
    """An optional backend or library is not installed."""


class InputError(FastipError):
    """A feed, image, shape or argument is not what the model accepts."""


class BundleError(FastipError):
    """A bundle or one of its files is missing, corrupt or inconsistent."""


class ExportError(FastipError):
    """Export, conversion or compilation of a model failed."""


class ValidationError(ExportError):
    """An exported artifact does not match the PyTorch reference."""


def require(module: str, extra: str, purpose: str):
    """Import an optional module or raise a MissingDependencyError naming the extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{purpose} needs `{module}`, which is not installed: "
            f"pip install 'fastip[{extra}]'"
        ) from exc
