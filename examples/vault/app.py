"""vault: secrets in HashiCorp Vault's (or OpenBao's) KV version 2 engine,
as ZenML's Vault secrets manager keeps them: one Vault secret per flavorbox
secret, its key-values plus the schema under `zenml_schema_name`.

A secret `name` lives at `<mount>/data/<namespace>/<name>` (or
`<mount>/data/<name>` without a namespace). Creating uses check-and-set 0 and
updating the version just read, so neither overwrites a concurrent change.

It implements ZenML's six methods; the rest of contract 0.2 (versions,
check-and-set, soft delete, labels) is the SDK's, kept in flavorbox's
storage beside the secrets in Vault. `validate_config` is overridden to
judge the address before a manager is registered. Needs the `http`
capability for the Vault origin and `storage`:

    flavorbox flavor register vault.wasm --grant storage --allow-host http://127.0.0.1:8200
    flavorbox secrets-manager register team --flavor vault \\
        --config address=http://127.0.0.1:8200 --config token=... --config namespace=team
"""

import re
from urllib.parse import urlsplit

from flavorbox_sdk import (BackendError, BaseSecretsManager, ConfigError, ConfigField,
                           DeniedError, InvalidError, Secret, SecretExistsError, export, http)

SCHEMA_KEY = "zenml_schema_name"
SEGMENT = re.compile(r"^[A-Za-z0-9_.-]+$")


class Vault(BaseSecretsManager):
    """Secrets in a Vault or OpenBao KV v2 engine, over HTTP."""

    FLAVOR = "vault"
    VERSION = "0.1.0"
    CAPABILITIES = ["http", "storage"]
    CONFIG = [
        ConfigField("address", "Vault origin, e.g. https://vault.internal:8200", required=True),
        ConfigField("token", "Vault token with read/write on the mount", required=True, secret=True),
        ConfigField("mount", "KV v2 mount path (default: secret)"),
        ConfigField("namespace", "path prefix: secrets live as <namespace>/<name>"),
    ]

    def validate_config(self, config):
        super().validate_config(config)
        address = urlsplit(config["address"])
        if address.scheme not in ("http", "https") or not address.hostname:
            raise ConfigError("config `address` must be an http(s) origin, "
                              "e.g. https://vault.internal:8200")

    def _url(self, kind, name=""):
        mount = self.config.get("mount", "secret").strip("/")
        namespace = self.config.get("namespace", "")
        for segment in [s for s in mount.split("/") + namespace.split("/") if s] + [name]:
            if segment and (not SEGMENT.match(segment) or segment in (".", "..")):
                raise ConfigError(f"bad path segment `{segment}` in mount or namespace")
        path = "/".join(s for s in [namespace.strip("/"), name] if s)
        return f"{self.config['address'].rstrip('/')}/v1/{mount}/{kind}/{path}"

    def _call(self, method, url, body=None):
        answer = http.request(method, url, headers={"X-Vault-Token": self.config["token"]},
                              json=body, timeout=4)
        if answer.status in (401, 403):
            raise DeniedError(f"Vault refused the token (HTTP {answer.status})")
        if answer.status >= 500:
            raise BackendError(f"Vault answered HTTP {answer.status}")
        return answer

    def _read(self, name):
        answer = self._call("GET", self._url("data", name))
        if answer.status == 404:
            raise KeyError(name)
        answer.raise_for_status()
        return answer.json()["data"]

    def _write(self, secret, cas):
        if SCHEMA_KEY in secret.values:
            raise InvalidError(f"key `{SCHEMA_KEY}` is reserved by the vault flavor")
        data = dict(secret.values, **{SCHEMA_KEY: secret.schema})
        answer = self._call("POST", self._url("data", secret.name),
                            {"options": {"cas": cas}, "data": data})
        if answer.status == 400 and "check-and-set" in answer.text:
            if cas == 0:
                raise SecretExistsError(f"secret `{secret.name}` already exists")
            raise BackendError(f"secret `{secret.name}` changed while it was updated")
        answer.raise_for_status()

    def register_secret(self, secret):
        self._write(secret, cas=0)

    def get_secret(self, secret_name):
        data = dict(self._read(secret_name)["data"])
        schema = data.pop(SCHEMA_KEY, "arbitrary")
        return Secret(secret_name, schema, data)

    def get_all_secret_keys(self):
        answer = self._call("GET", self._url("metadata") + "?list=true")
        if answer.status == 404:
            return []
        answer.raise_for_status()
        # Entries ending in "/" are folders (other namespaces), not secrets.
        return [k for k in answer.json()["data"]["keys"] if not k.endswith("/")]

    def update_secret(self, secret):
        version = self._read(secret.name)["metadata"]["version"]
        self._write(secret, cas=version)

    def delete_secret(self, secret_name):
        if self._call("GET", self._url("metadata", secret_name)).status == 404:
            raise KeyError(secret_name)
        self._call("DELETE", self._url("metadata", secret_name)).raise_for_status()

    def delete_all_secrets(self, force=False):
        if not force:
            raise InvalidError("deleting all secrets needs force=True")
        for name in self.get_all_secret_keys():
            self._call("DELETE", self._url("metadata", name)).raise_for_status()


SecretsManager, Metadata = export(Vault)
