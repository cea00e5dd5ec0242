"""flavorbox's Python SDK: write a secrets-manager flavor the way ZenML
users do, as a `BaseSecretsManager` subclass, and build it into a
WebAssembly component of contract 0.2 with componentize-py (`flavorbox
flavor build`). Versions, check-and-set, soft delete, labels and metadata
are inherited (kept in the flavor's storage) unless the flavor keeps them
natively (`NATIVE_HISTORY`).

    from flavorbox_sdk import BaseSecretsManager, Secret, SecretExistsError, export
"""

from . import http
from .errors import (
    BackendError,
    ConfigError,
    ConflictError,
    DeniedError,
    FlavorError,
    InvalidError,
    SecretExistsError,
    SecretNotFoundError,
)
from .flavor import BaseSecretsManager, export
from .history import RESERVED_PREFIX
from .host import config, log, storage
from .model import ConfigField, Secret, SecretHistory, SecretMetadata, VersionInfo

__all__ = [
    "BackendError",
    "BaseSecretsManager",
    "ConfigError",
    "ConfigField",
    "ConflictError",
    "DeniedError",
    "FlavorError",
    "InvalidError",
    "RESERVED_PREFIX",
    "Secret",
    "SecretExistsError",
    "SecretHistory",
    "SecretMetadata",
    "SecretNotFoundError",
    "VersionInfo",
    "config",
    "export",
    "http",
    "log",
    "storage",
]
