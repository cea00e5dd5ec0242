"""{{name}}: a secrets-manager flavor that keeps its secrets in the storage
flavorbox gives each secrets manager (ZenML's BaseSecretsManager, in Python).

It implements ZenML's six methods; the rest of contract 0.2 (versions,
check-and-set, soft delete and restore, labels, metadata) is inherited from
the SDK, which keeps it in the same storage under `_flavorbox/` and calls
these six for the current values. A flavor over a backend that keeps
versions itself sets `NATIVE_HISTORY = True` and implements every
operation in the contract's shape instead (see docs/flavor-authoring.md).

Build it with `flavorbox flavor build .`, check it with `flavorbox evaluate`,
then `flavorbox flavor register {{name}}.wasm --grant storage`.
"""

from flavorbox_sdk import (
    BaseSecretsManager,
    InvalidError,
    Secret,
    SecretExistsError,
    export,
)

# One storage key per secret: "secret/<name>" -> {"schema": ..., "values": {...}}.
PREFIX = "secret/"


class {{class}}(BaseSecretsManager):
    """Secrets kept in flavorbox's per-manager storage."""

    FLAVOR = "{{name}}"
    VERSION = "0.1.0"
    CAPABILITIES = ["storage"]
    CONFIG = []

    def register_secret(self, secret: Secret) -> None:
        if self.storage.get(PREFIX + secret.name) is not None:
            raise SecretExistsError(f"secret `{secret.name}` already exists")
        self._write(secret)

    def get_secret(self, secret_name: str) -> Secret:
        stored = self.storage.get_json(PREFIX + secret_name)
        if stored is None:
            raise KeyError(secret_name)
        return Secret(secret_name, stored["schema"], stored["values"])

    def get_all_secret_keys(self) -> list[str]:
        return [key[len(PREFIX):] for key in self.storage.keys(PREFIX)]

    def update_secret(self, secret: Secret) -> None:
        if self.storage.get(PREFIX + secret.name) is None:
            raise KeyError(secret.name)
        self._write(secret)

    def delete_secret(self, secret_name: str) -> None:
        if not self.storage.delete(PREFIX + secret_name):
            raise KeyError(secret_name)

    def delete_all_secrets(self, force: bool = False) -> None:
        if not force:
            raise InvalidError("deleting all secrets needs force=True")
        for key in self.storage.keys(PREFIX):
            self.storage.delete(key)

    def _write(self, secret: Secret) -> None:
        self.storage.set_json(PREFIX + secret.name, {"schema": secret.schema, "values": secret.values})
        self.log.debug(f"stored secret `{secret.name}` ({len(secret.values)} keys)")


# componentize-py calls the classes named after the world's exports.
SecretsManager, Metadata = export({{class}})
