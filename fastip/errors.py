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
        reraise_interrupt(exc)
        raise MissingDependencyError(
            f"{purpose} needs `{module}`, which is not installed: "
            f"pip install 'fastip[{extra}]'"
        ) from exc


def reraise_interrupt(exc: BaseException) -> None:
    """Raise KeyboardInterrupt if one is in the cause/context chain of `exc`.

    Ctrl-C during an import can reach the importer as an ImportError (a half-initialised module,
    an extension whose init failed); reporting that as "not installed" would be false."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            raise KeyboardInterrupt from exc
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
