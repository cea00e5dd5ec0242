"""Exceptions a flavor raises, and the WIT `error` variant each becomes.

ZenML's secrets managers raise `SecretExistsError` and `KeyError`; the same
exceptions work here. Every other exception becomes `backend`, so a bug in a
flavor is reported as a failed operation, never as a crashed host.

    SecretExistsError            -> already-exists
    SecretNotFoundError,KeyError -> not-found
    InvalidError, ValueError     -> invalid   (ValueError itself, not its
                                               subclasses such as JSON errors)
    DeniedError, PermissionError -> denied
    ConflictError                -> conflict  (a check-and-set write found
                                               another version; nothing
                                               was written)
    BackendError, anything else  -> backend
"""


class FlavorError(Exception):
    """Base of the exceptions that name a WIT error variant."""

    variant = "backend"

    def __init__(self, message=""):
        super().__init__(message)
        self.message = str(message)

    def __str__(self):
        return self.message


class SecretExistsError(FlavorError):
    """A secret of that name exists already (`already-exists`)."""

    variant = "already-exists"


class SecretNotFoundError(FlavorError, KeyError):
    """No secret of that name exists (`not-found`)."""

    variant = "not-found"


class InvalidError(FlavorError, ValueError):
    """The request is not acceptable (`invalid`)."""

    variant = "invalid"


class DeniedError(FlavorError, PermissionError):
    """The host or the backend refused (`denied`)."""

    variant = "denied"


class BackendError(FlavorError):
    """The backend failed: network, unexpected answer, corrupt data (`backend`)."""

    variant = "backend"


class ConflictError(FlavorError):
    """A check-and-set write found the secret at another version than
    expected; nothing was written (`conflict`)."""

    variant = "conflict"


class ConfigError(InvalidError):
    """A config value the flavor needs is missing or malformed (`invalid`)."""


def classify(exc):
    """The (variant, message) an exception becomes at the WIT boundary."""
    if isinstance(exc, FlavorError):
        return exc.variant, exc.message
    if isinstance(exc, KeyError):
        # str(KeyError("x")) is "'x'"; the bare key reads better.
        detail = exc.args[0] if exc.args else ""
        return "not-found", str(detail)
    if type(exc) is ValueError:
        return "invalid", str(exc)
    if isinstance(exc, PermissionError):
        return "denied", str(exc)
    return "backend", f"{type(exc).__name__}: {exc}"


def from_variant(variant, message):
    """The exception for a WIT error the host answered with."""
    kinds = {
        "not-found": SecretNotFoundError,
        "already-exists": SecretExistsError,
        "invalid": InvalidError,
        "denied": DeniedError,
        "backend": BackendError,
        "conflict": ConflictError,
    }
    return kinds.get(variant, BackendError)(message)
