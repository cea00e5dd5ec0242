"""ZenML's `BaseSecretsManager`, as a flavorbox flavor of contract 0.2.

A flavor is a subclass that sets `FLAVOR` and implements ZenML's six
methods; `export(cls)` turns it into the two classes componentize-py looks
for in the app module (`SecretsManager` and `Metadata`, after the world's
exports):

    class MyVault(BaseSecretsManager):
        FLAVOR = "myvault"
        CAPABILITIES = ["storage"]
        ...

    SecretsManager, Metadata = export(MyVault)

The rest of contract 0.2 (versions, check-and-set, soft delete and restore,
destroy, labels, metadata) is inherited: the SDK keeps it in the flavor's
storage (`history.py`) around the six methods, so such a flavor declares
the `storage` capability. A flavor whose backend keeps versions itself sets
`NATIVE_HISTORY = True` and implements every operation in the contract's
shape instead (`get_secret(name, version=None)` returning a `Secret` with
its `version`, `update_secret(secret, expected=None)` returning the version
written, `delete_secret(name, purge=False)`, ...). `validate_config`
(default: every required config field is set) may be overridden by either.

Each operation runs in a fresh instance of the component, so nothing a
method stores on `self` survives it; keep state in `self.storage` (or a
backend). What the flavor declares (name, version, description, config
fields, capabilities) comes from the class attributes.

Guards against a class that cannot answer every operation (refused by
`export()`, at build time, naming what is missing), a flavor's exception
crossing the boundary as anything but the WIT error it names, and an answer
of the wrong shape (a `backend` error naming what was returned).
"""

import traceback

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import flavorbox_secrets_types as _types

from . import http as _http
from .errors import BackendError, ConfigError, classify
from .history import KeptHistory
from .host import config, log, storage
from .model import VERSION_STATES, Secret, SecretHistory, SecretMetadata

CAPABILITIES = ("storage", "http")

_WIT_ERRORS = {
    "not-found": _types.Error_NotFound,
    "already-exists": _types.Error_AlreadyExists,
    "invalid": _types.Error_Invalid,
    "denied": _types.Error_Denied,
    "backend": _types.Error_Backend,
    "conflict": _types.Error_Conflict,
}

_STATES = {
    "current": _types.VersionState.CURRENT,
    "previous": _types.VersionState.PREVIOUS,
    "deleted": _types.VersionState.DELETED,
    "destroyed": _types.VersionState.DESTROYED,
}

#: ZenML's operations: every flavor implements them.
ZENML_METHODS = ("register_secret", "get_secret", "get_all_secret_keys", "update_secret",
                 "delete_secret", "delete_all_secrets")
#: The operations contract 0.2 adds; inherited unless `NATIVE_HISTORY`.
HISTORY_METHODS = ("list_secrets", "get_metadata", "list_versions", "restore_secret",
                   "destroy_versions", "set_labels")


class BaseSecretsManager:
    """Base class of a flavor; see the module documentation."""

    #: The flavor's name (`flavorbox flavor register` files it under this).
    FLAVOR = ""
    VERSION = "0.1.0"
    #: One line; defaults to the first line of the class docstring.
    DESCRIPTION = ""
    #: What the flavor needs the operator to grant: "storage", "http".
    CAPABILITIES = ()
    #: The config keys a secrets manager of this flavor takes.
    CONFIG = ()
    #: True: the flavor keeps versions, soft deletes and labels in its
    #: backend and implements every operation in the contract's shape.
    #: False: the SDK keeps them in the flavor's storage.
    NATIVE_HISTORY = False
    #: How many versions of a secret the SDK keeps (not `NATIVE_HISTORY`).
    MAX_VERSIONS = 10

    storage = storage
    config = config
    log = log
    http = _http

    # ---- ZenML's six (with NATIVE_HISTORY, in the contract's shape) ------------

    def register_secret(self, secret):
        """Stores a new secret; raise `SecretExistsError` if the name is
        taken. (Native: `register_secret(secret, labels)`, labels a dict.)"""
        raise NotImplementedError

    def get_secret(self, secret_name):
        """Returns the `Secret`; raise `KeyError` if there is none.
        (Native: `get_secret(name, version=None)`, the `Secret`'s `version`
        set.)"""
        raise NotImplementedError

    def get_all_secret_keys(self):
        """Returns the names of all secrets (not the soft-deleted ones)."""
        raise NotImplementedError

    def update_secret(self, secret):
        """Replaces the values and schema; raise `KeyError` if missing.
        (Native: `update_secret(secret, expected=None)`, returning the
        version written; `ConflictError` if the secret is not at `expected`.)"""
        raise NotImplementedError

    def delete_secret(self, secret_name):
        """Removes a secret; raise `KeyError` if missing. (Native:
        `delete_secret(name, purge=False)`, soft unless `purge`.)"""
        raise NotImplementedError

    def delete_all_secrets(self, force=False):
        """Removes every secret; with `force=False`, refuse (`InvalidError`)."""
        raise NotImplementedError

    # ---- contract 0.2: kept by the SDK unless NATIVE_HISTORY -------------------

    def _kept(self):
        return KeptHistory(self, type(self).MAX_VERSIONS)

    def list_secrets(self, include_deleted=False):
        """The `SecretMetadata` of every secret (and of the soft-deleted ones
        too when `include_deleted`)."""
        return self._kept().list(include_deleted)

    def get_metadata(self, name):
        """The `SecretMetadata` of one secret, soft-deleted or not."""
        return self._kept().metadata(name)

    def list_versions(self, name):
        """The secret's `SecretHistory`: metadata and versions, oldest first."""
        return self._kept().history(name)

    def restore_secret(self, name):
        """Undoes a soft delete; `InvalidError` if the secret is not deleted."""
        self._kept().restore(name)

    def destroy_versions(self, name, versions):
        """Erases the values of `versions` (a list of numbers) for good."""
        self._kept().destroy(name, versions)

    def set_labels(self, name, labels):
        """Replaces the secret's labels (a dict); writes no version."""
        self._kept().set_labels(name, labels)

    def validate_config(self, config):
        """Judges `config` (a dict) without reaching storage or the network;
        raise `ConfigError` to refuse it. Default: every required field of
        `CONFIG` is set and not empty."""
        for field in type(self).CONFIG:
            if field.required and not config.get(field.name):
                raise ConfigError(f"config `{field.name}` is required")


def _answer(operation, body):
    """Runs one operation; its exception becomes the WIT error it names.
    An unexpected exception is logged with its traceback (the host masks
    secret values in it) and answered as `backend`."""
    try:
        return body()
    except Err:
        raise
    except BaseException as exc:  # noqa: BLE001 - every failure is an answer
        variant, message = classify(exc)
        if variant == "backend" and not isinstance(exc, BackendError):
            log.error(f"{operation} failed:\n" + "".join(traceback.format_exception(exc)))
        raise Err(_WIT_ERRORS[variant](message or variant)) from None


def _description(cls):
    if cls.DESCRIPTION:
        return cls.DESCRIPTION
    doc = (cls.__doc__ or "").strip()
    return doc.splitlines()[0] if doc else ""


# ---- to and from the WIT's shapes ---------------------------------------------------

def _secret_from_wit(secret):
    return Secret(secret.name, secret.schema, dict(secret.values))


def _secret_to_wit(secret, name, version=None):
    """The versioned secret `name` (at `version`, when one was asked for)."""
    if not isinstance(secret, Secret):
        raise BackendError(f"get_secret returned {type(secret).__name__}, not a Secret")
    if not isinstance(secret.version, int) or isinstance(secret.version, bool):
        raise BackendError("get_secret returned a Secret without its version")
    if version is not None and secret.version != version:
        raise BackendError(f"get_secret of version {version} returned version {secret.version}")
    values = []
    for key, value in secret.values.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise BackendError(f"secret `{name}`: keys and values must be str")
        values.append((key, value))
    return _types.VersionedSecret(_types.Secret(name, str(secret.schema), values), secret.version)


def _labels_to_wit(labels):
    return [(str(k), str(v)) for k, v in dict(labels or {}).items()]


def _metadata_to_wit(meta):
    if not isinstance(meta, SecretMetadata):
        raise BackendError(f"expected SecretMetadata, got {type(meta).__name__}")
    return _types.SecretMetadata(str(meta.name), str(meta.schema), int(meta.created),
                                 int(meta.updated), int(meta.current_version), bool(meta.deleted),
                                 _labels_to_wit(meta.labels))


def _history_to_wit(history):
    if not isinstance(history, SecretHistory):
        raise BackendError(f"list_versions returned {type(history).__name__}, not a SecretHistory")
    versions = []
    for v in history.versions:
        if v.state not in VERSION_STATES:
            raise BackendError(f"version {v.version} has no state `{v.state}`")
        author = None if v.author is None else str(v.author)
        versions.append(_types.VersionInfo(int(v.version), int(v.created), _STATES[v.state],
                                           author))
    return _types.SecretHistory(_metadata_to_wit(history.metadata), versions)


def _check(cls):
    """Refuses (TypeError) a class that could not answer every operation."""
    if not (isinstance(cls, type) and issubclass(cls, BaseSecretsManager)):
        raise TypeError("export() takes a BaseSecretsManager subclass")
    if not cls.FLAVOR:
        raise TypeError(f"{cls.__name__}.FLAVOR is not set")
    unknown = [c for c in cls.CAPABILITIES if c not in CAPABILITIES]
    if unknown:
        raise TypeError(f"{cls.__name__}.CAPABILITIES: unknown {unknown}; known: {CAPABILITIES}")
    required = ZENML_METHODS + (HISTORY_METHODS if cls.NATIVE_HISTORY else ())
    for method in required:
        if getattr(cls, method) is getattr(BaseSecretsManager, method):
            why = " (NATIVE_HISTORY is set)" if method in HISTORY_METHODS else ""
            raise TypeError(f"{cls.__name__} does not implement {method}{why}")
    if not cls.NATIVE_HISTORY and "storage" not in cls.CAPABILITIES:
        raise TypeError(
            f"{cls.__name__} inherits the SDK's versions, soft delete and labels, which are "
            "kept in the flavor's storage: add \"storage\" to CAPABILITIES (or set "
            "NATIVE_HISTORY = True and implement every operation against the backend)")


def export(cls):
    """The `SecretsManager` and `Metadata` classes componentize-py calls,
    backed by `cls` (a `BaseSecretsManager` subclass)."""
    _check(cls)
    info = _types.FlavorInfo(
        cls.FLAVOR,
        cls.VERSION,
        _description(cls),
        [_types.ConfigField(f.name, f.description, f.required, f.secret) for f in cls.CONFIG],
        list(cls.CAPABILITIES),
    )
    native = bool(cls.NATIVE_HISTORY)

    def kept():
        return cls()._kept()

    class SecretsManager(exports.SecretsManager):
        def register_secret(self, secret, labels):
            def body():
                given, tags = _secret_from_wit(secret), dict(labels)
                if native:
                    cls().register_secret(given, tags)
                else:
                    kept().register(given, tags)
            _answer("register_secret", body)

        def get_secret(self, name, version):
            def body():
                found = cls().get_secret(name, version) if native else kept().get(name, version)
                return _secret_to_wit(found, name, version)
            return _answer("get_secret", body)

        def get_all_secret_keys(self):
            return _answer("get_all_secret_keys",
                           lambda: [str(n) for n in cls().get_all_secret_keys()])

        def list_secrets(self, include_deleted):
            return _answer("list_secrets", lambda: [
                _metadata_to_wit(m) for m in cls().list_secrets(include_deleted)])

        def get_metadata(self, name):
            return _answer("get_metadata", lambda: _metadata_to_wit(cls().get_metadata(name)))

        def list_versions(self, name):
            return _answer("list_versions", lambda: _history_to_wit(cls().list_versions(name)))

        def update_secret(self, secret, expected):
            def body():
                given = _secret_from_wit(secret)
                written = (cls().update_secret(given, expected) if native
                           else kept().update(given, expected))
                if not isinstance(written, int) or isinstance(written, bool):
                    raise BackendError("update_secret returned no version number")
                return written
            return _answer("update_secret", body)

        def delete_secret(self, name, purge):
            _answer("delete_secret", lambda: (cls().delete_secret(name, purge) if native
                                              else kept().delete(name, purge)))

        def restore_secret(self, name):
            _answer("restore_secret", lambda: cls().restore_secret(name))

        def destroy_versions(self, name, versions):
            _answer("destroy_versions", lambda: cls().destroy_versions(name, list(versions)))

        def set_labels(self, name, labels):
            _answer("set_labels", lambda: cls().set_labels(name, dict(labels)))

        def delete_all_secrets(self, force):
            _answer("delete_all_secrets", lambda: (cls().delete_all_secrets(force) if native
                                                   else kept().delete_all(force)))

        def validate_config(self, config):
            _answer("validate_config", lambda: cls().validate_config(dict(config)))

    class Metadata(exports.Metadata):
        def info(self):
            return info

    return SecretsManager, Metadata
