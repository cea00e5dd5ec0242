"""The host's imports in Python's shape: `storage`, `config` and `log`.

Each wraps the generated `wit_world` bindings. A host error arrives as the
exception of its variant (see `errors`), so a flavor that lets it propagate
answers with the same variant. Nothing here is imported lazily: a flavor
runs from a snapshot taken at build time and cannot load modules afterwards.
"""

import json

from componentize_py_types import Err
from wit_world.imports import config as _config
from wit_world.imports import flavorbox_secrets_types as _types
from wit_world.imports import log as _log
from wit_world.imports import storage as _storage

from .errors import ConfigError, from_variant

_VARIANTS = {
    _types.Error_NotFound: "not-found",
    _types.Error_AlreadyExists: "already-exists",
    _types.Error_Invalid: "invalid",
    _types.Error_Denied: "denied",
    _types.Error_Backend: "backend",
    _types.Error_Conflict: "conflict",
}


def _host_call(function, *args):
    try:
        return function(*args)
    except Err as err:
        wit = err.value
        raise from_variant(_VARIANTS.get(type(wit), "backend"), wit.value) from None


class Storage:
    """Key-value storage in this secrets manager's own namespace.

    Keys are 1-512 bytes of printable ASCII without `..` segments; values
    are bytes (a `str` is stored as UTF-8). Writes are committed only if the
    operation succeeds. Needs the `storage` capability.
    """

    def get(self, key):
        """The value of `key` as bytes, or None."""
        return _host_call(_storage.get, key)

    def set(self, key, value):
        if isinstance(value, str):
            value = value.encode()
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise TypeError(f"storage values are bytes or str, not {type(value).__name__}")
        _host_call(_storage.set, key, bytes(value))

    def delete(self, key):
        """Removes `key`; whether it existed."""
        return _host_call(_storage.delete, key)

    def keys(self, prefix=""):
        """All keys starting with `prefix`, sorted."""
        return _host_call(_storage.list_keys, prefix)

    def get_json(self, key):
        """The JSON value stored at `key`, or None."""
        raw = self.get(key)
        return None if raw is None else json.loads(raw)

    def set_json(self, key, value):
        self.set(key, json.dumps(value, separators=(",", ":")).encode())


class Config:
    """This secrets manager's configuration (read-only), like a dict."""

    def get(self, key, default=None):
        value = _config.get(key)
        return default if value is None else value

    def __getitem__(self, key):
        value = _config.get(key)
        if value is None:
            raise ConfigError(f"config `{key}` is not set")
        return value

    def __contains__(self, key):
        return _config.get(key) is not None

    def items(self):
        return list(_config.all())


class Log:
    """Diagnostics, shown with `FLAVORBOX_LOG=flavor=info`. Capped per call;
    any secret value the call handled is masked as `***` by the host.
    `print()` also lands here (stdout and stderr are captured)."""

    def trace(self, message):
        _log.log(_log.Level.TRACE, str(message))

    def debug(self, message):
        _log.log(_log.Level.DEBUG, str(message))

    def info(self, message):
        _log.log(_log.Level.INFO, str(message))

    def warning(self, message):
        _log.log(_log.Level.WARN, str(message))

    warn = warning

    def error(self, message):
        _log.log(_log.Level.ERROR, str(message))


storage = Storage()
config = Config()
log = Log()
