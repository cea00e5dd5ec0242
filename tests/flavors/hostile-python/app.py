"""Hostile test flavor, in Python: the sandbox must stop it like a Rust one.

Each attack is one operation, so one component (18 MB, compiled once per
test run) covers all three:

    get_secret           spins forever             -> sandbox: deadline
    register_secret      allocates without end     -> sandbox: memory (even
                         though Python turns the refusal into a MemoryError
                         that this flavor catches and answers with)
    get_all_secret_keys  floods log and stdout with 20 MiB, then answers
                         honestly                  -> output capped, noted once

The other operations are honest, on the `secrets/<name>` JSON entries the
sandbox suite's arena uses.
"""

from flavorbox_sdk import BaseSecretsManager, InvalidError, Secret, export

PREFIX = "secrets/"


class HostilePython(BaseSecretsManager):
    """Hostile test flavor (Python): loops, allocates and floods its log."""

    FLAVOR = "hostile_python"
    CAPABILITIES = ["storage"]

    def get_secret(self, secret_name):
        spins = 0
        while True:
            spins += 1

    def register_secret(self, secret):
        hoard = []
        try:
            while True:
                hoard.append(bytearray(1024 * 1024))
        except MemoryError:
            # Recovering is no way out: the refused growth already counts.
            hoard.clear()
        self.storage.set_json(PREFIX + secret.name, {"schema": secret.schema, "values": []})

    def get_all_secret_keys(self):
        line = "x" * 1024
        for _ in range(10 * 1024):
            self.log.info(line)
        for _ in range(10 * 1024):
            print(line)
        return [key[len(PREFIX):] for key in self.storage.keys(PREFIX)]

    def update_secret(self, secret):
        if self.storage.get(PREFIX + secret.name) is None:
            raise KeyError(secret.name)
        self.storage.set_json(PREFIX + secret.name, {"schema": secret.schema,
                                                     "values": list(secret.values.items())})

    def delete_secret(self, secret_name):
        if not self.storage.delete(PREFIX + secret_name):
            raise KeyError(secret_name)

    def delete_all_secrets(self, force=False):
        if not force:
            raise InvalidError("deleting all secrets needs force=True")
        for key in self.storage.keys(PREFIX):
            self.storage.delete(key)


SecretsManager, Metadata = export(HostilePython)
