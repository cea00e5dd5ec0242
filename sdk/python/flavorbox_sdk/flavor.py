"""ZenML's `BaseSecretsManager`, as a flavorbox flavor.

A flavor is a subclass that sets `FLAVOR` and implements the six methods;
`export(cls)` turns it into the two classes componentize-py looks for in the
app module (`SecretsManager` and `Metadata`, after the world's exports):

    class MyVault(BaseSecretsManager):
        FLAVOR = "myvault"
        CAPABILITIES = ["storage"]
        ...

    SecretsManager, Metadata = export(MyVault)

Each operation runs in a fresh instance of the component, so nothing a
method stores on `self` survives it; keep state in `self.storage` (or a
backend). What the flavor declares (name, version, description, config
fields, capabilities) comes from the class attributes.
"""

import traceback

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import flavorbox_secrets_types as _types

from . import http as _http
from .errors import BackendError, classify
from .host import config, log, storage

CAPABILITIES = ("storage", "http")

_WIT_ERRORS = {
    "not-found": _types.Error_NotFound,
    "already-exists": _types.Error_AlreadyExists,
    "invalid": _types.Error_Invalid,
    "denied": _types.Error_Denied,
    "backend": _types.Error_Backend,
}


class Secret:
    """A secret: a name, the schema its values were checked against
    (`arbitrary`, `aws`, `mysql`, or a user's own), and its key-values.

    `content` is ZenML's name for `values`."""

    def __init__(self, name, schema="arbitrary", values=None):
        self.name = name
        self.schema = schema
        self.values = dict(values or {})

    @property
    def content(self):
        return self.values

    def __repr__(self):
        # Never the values: a repr can end up in a log or a traceback.
        return f"Secret(name={self.name!r}, schema={self.schema!r}, keys={sorted(self.values)!r})"

    def __eq__(self, other):
        return (isinstance(other, Secret) and self.name == other.name
                and self.schema == other.schema and self.values == other.values)

    @classmethod
    def _from_wit(cls, secret):
        return cls(secret.name, secret.schema, dict(secret.values))

    def _to_wit(self):
        values = []
        for key, value in self.values.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise BackendError(f"secret `{self.name}`: keys and values must be str")
            values.append((key, value))
        return _types.Secret(self.name, self.schema, values)


class ConfigField:
    """One configuration key the flavor takes. A `secret` field (a token, a
    password) is never printed by the host."""

    def __init__(self, name, description="", required=False, secret=False):
        self.name = name
        self.description = description
        self.required = required
        self.secret = secret


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

    storage = storage
    config = config
    log = log
    http = _http

    def register_secret(self, secret):
        """Stores a new secret; raise `SecretExistsError` if the name is taken."""
        raise NotImplementedError

    def get_secret(self, secret_name):
        """Returns the `Secret`; raise `KeyError` if there is none."""
        raise NotImplementedError

    def get_all_secret_keys(self):
        """Returns the names of all secrets."""
        raise NotImplementedError

    def update_secret(self, secret):
        """Replaces the values and schema; raise `KeyError` if missing."""
        raise NotImplementedError

    def delete_secret(self, secret_name):
        """Removes a secret; raise `KeyError` if missing."""
        raise NotImplementedError

    def delete_all_secrets(self, force=False):
        """Removes every secret; with `force=False`, refuse (`InvalidError`)."""
        raise NotImplementedError


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


def export(cls):
    """The `SecretsManager` and `Metadata` classes componentize-py calls,
    backed by `cls` (a `BaseSecretsManager` subclass)."""
    if not (isinstance(cls, type) and issubclass(cls, BaseSecretsManager)):
        raise TypeError("export() takes a BaseSecretsManager subclass")
    if not cls.FLAVOR:
        raise TypeError(f"{cls.__name__}.FLAVOR is not set")
    unknown = [c for c in cls.CAPABILITIES if c not in CAPABILITIES]
    if unknown:
        raise TypeError(f"{cls.__name__}.CAPABILITIES: unknown {unknown}; known: {CAPABILITIES}")
    for method in ("register_secret", "get_secret", "get_all_secret_keys", "update_secret",
                   "delete_secret", "delete_all_secrets"):
        if getattr(cls, method) is getattr(BaseSecretsManager, method):
            raise TypeError(f"{cls.__name__} does not implement {method}")

    info = _types.FlavorInfo(
        cls.FLAVOR,
        cls.VERSION,
        _description(cls),
        [_types.ConfigField(f.name, f.description, f.required, f.secret) for f in cls.CONFIG],
        list(cls.CAPABILITIES),
    )

    class SecretsManager(exports.SecretsManager):
        def register_secret(self, secret):
            _answer("register_secret", lambda: cls().register_secret(Secret._from_wit(secret)))

        def get_secret(self, name):
            def body():
                found = cls().get_secret(name)
                if not isinstance(found, Secret):
                    raise BackendError(f"get_secret returned {type(found).__name__}, not a Secret")
                return found._to_wit()
            return _answer("get_secret", body)

        def get_all_secret_keys(self):
            return _answer("get_all_secret_keys",
                           lambda: [str(n) for n in cls().get_all_secret_keys()])

        def update_secret(self, secret):
            _answer("update_secret", lambda: cls().update_secret(Secret._from_wit(secret)))

        def delete_secret(self, name):
            _answer("delete_secret", lambda: cls().delete_secret(name))

        def delete_all_secrets(self, force):
            _answer("delete_all_secrets", lambda: cls().delete_all_secrets(force=force))

    class Metadata(exports.Metadata):
        def info(self):
            return info

    return SecretsManager, Metadata
