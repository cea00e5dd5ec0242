"""flavorbox's Python SDK: write a secrets-manager flavor the way ZenML
users do, as a `BaseSecretsManager` subclass, and build it into a
WebAssembly component with componentize-py (`flavorbox flavor build`).

    from flavorbox_sdk import BaseSecretsManager, Secret, SecretExistsError, export
"""

from . import http
from .errors import (
    BackendError,
    ConfigError,
    DeniedError,
    FlavorError,
    InvalidError,
    SecretExistsError,
    SecretNotFoundError,
)
from .flavor import BaseSecretsManager, ConfigField, Secret, export
from .host import config, log, storage

__all__ = [
    "BackendError",
    "BaseSecretsManager",
    "ConfigError",
    "ConfigField",
    "DeniedError",
    "FlavorError",
    "InvalidError",
    "Secret",
    "SecretExistsError",
    "SecretNotFoundError",
    "config",
    "export",
    "http",
    "log",
    "storage",
]
