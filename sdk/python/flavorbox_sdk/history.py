"""The history of contract 0.2 for a flavor whose backend keeps none: the
SDK keeps it in the flavor's `storage`, under the reserved prefix
`_flavorbox/`, and calls the flavor's six ZenML methods for the current
values, as the contract says a backend without native versions does:

    _flavorbox/live/<name>        the record of a secret: its versions (number,
    _flavorbox/deleted/<name>     time, state, schema), labels, times; under
                                  `deleted/` while it is soft-deleted
    _flavorbox/values/<name>/<n>  the values of version n, for every version
                                  but the current one (the backend holds that)

An update reads the current values from the flavor (`get_secret`) and keeps
them as the previous version before it calls `update_secret`; a soft delete
keeps them likewise, then calls `delete_secret` (so the backend no longer
has the secret, and `get_all_secret_keys` no longer lists it); a restore
calls `register_secret` with them. A secret the backend has and no record
names (written before the flavor spoke 0.2, or by hand) is taken up as
version 1, created when first seen. The newest `MAX_VERSIONS` versions of a
secret are kept; older ones are forgotten (no longer listed, `not-found`).

Guards against: numbers reused or times going back (a version's number is
one more than the newest, which is always the current one; a time is never
before the record's last change); a check-and-set or a refused write that
leaves anything behind (every rule is checked before the first write, and
the host commits a call's storage writes only if it answers `ok`, running
it again when another call changed the storage meanwhile, unless it reached
the network); a soft-deleted name taken again; values in an error or log
(errors name secrets, versions and keys, never values).
"""

import time

from .errors import (BackendError, ConflictError, InvalidError, SecretExistsError,
                     SecretNotFoundError)
from .model import Secret, SecretHistory, SecretMetadata, VersionInfo

#: The storage keys the SDK keeps history under; a flavor keeps out of them.
RESERVED_PREFIX = "_flavorbox/"
_LIVE = RESERVED_PREFIX + "live/"
_DELETED = RESERVED_PREFIX + "deleted/"
_VALUES = RESERVED_PREFIX + "values/"


def _record_key(name, deleted):
    return (_DELETED if deleted else _LIVE) + name


def _values_key(name, version):
    return f"{_VALUES}{name}/{version}"


def _head(record):
    """The version entry that is current (or deleted, when soft-deleted)."""
    for entry in record["versions"]:
        if entry["state"] in ("current", "deleted"):
            return entry
    raise BackendError("the SDK's history record of a secret names no current version")


def _missing(name):
    return SecretNotFoundError(f"secret `{name}` does not exist")


class KeptHistory:
    """The 0.2 operations over `flavor`'s six ZenML methods and its storage."""

    def __init__(self, flavor, max_versions):
        self.flavor = flavor
        self.storage = flavor.storage
        self.max_versions = max(1, int(max_versions))

    # ---- records -------------------------------------------------------------

    def _load(self, name):
        """The record of `name` (live or soft-deleted), or None."""
        for deleted in (False, True):
            record = self.storage.get_json(_record_key(name, deleted))
            if record is not None:
                if not isinstance(record, dict) or not record.get("versions"):
                    raise BackendError(f"the SDK's history record of `{name}` is corrupt")
                record["deleted"] = deleted
                return record
        return None

    def _store(self, name, record, was_deleted=None):
        """Writes `record` under the key its state names, moving it from
        where it was (`was_deleted`; None for a new record)."""
        if was_deleted is not None and was_deleted != record["deleted"]:
            self.storage.delete(_record_key(name, was_deleted))
        self.storage.set_json(_record_key(name, record["deleted"]), record)

    def _forget(self, name):
        """Every entry of `name`'s history gone."""
        for deleted in (False, True):
            self.storage.delete(_record_key(name, deleted))
        for key in self.storage.keys(f"{_VALUES}{name}/"):
            self.storage.delete(key)

    @staticmethod
    def _tick(record=None):
        """Now, in ms, never before the record's last change."""
        now = time.time_ns() // 1_000_000
        return max(now, record["updated"]) if record else now

    def _current(self, name):
        """The current values, from the flavor; `not-found` if it has none."""
        found = self.flavor.get_secret(name)
        if not isinstance(found, Secret):
            raise BackendError(f"get_secret returned {type(found).__name__}, not a Secret")
        found.name = name
        return found

    def _adopt(self, name, current):
        """A record for a secret the backend has and no record names."""
        now = self._tick()
        record = {"created": now, "updated": now, "deleted": False, "labels": [],
                  "versions": [{"version": 1, "created": now, "state": "current",
                                "schema": current.schema}]}
        self._store(name, record)
        return record

    def _any(self, name):
        """The record of `name`, live or soft-deleted; `not-found` if neither
        it nor the backend has the secret."""
        record = self._load(name)
        return record if record is not None else self._adopt(name, self._current(name))

    def _live(self, name):
        """The record of a secret that is not soft-deleted, or `not-found`."""
        record = self._any(name)
        if record["deleted"]:
            raise SecretNotFoundError(f"secret `{name}` is deleted (restore it first)")
        return record

    def _keep_values(self, name, version, secret):
        self.storage.set_json(_values_key(name, version),
                              {"schema": secret.schema, "values": secret.values})

    @staticmethod
    def _metadata(name, record):
        head = _head(record)
        return SecretMetadata(name, head["schema"], record["created"], record["updated"],
                              head["version"], record["deleted"], dict(record["labels"]))

    # ---- the operations ------------------------------------------------------

    def register(self, secret, labels):
        record = self._load(secret.name)
        if record is not None and record["deleted"]:
            raise SecretExistsError(
                f"secret `{secret.name}` already exists (deleted: restore or purge it)")
        self.flavor.register_secret(secret)
        if record is not None:
            # A record the backend had lost the secret of: a new secret.
            self._forget(secret.name)
        now = self._tick()
        self._store(secret.name, {
            "created": now, "updated": now, "deleted": False, "labels": list(labels.items()),
            "versions": [{"version": 1, "created": now, "state": "current",
                          "schema": secret.schema}],
        })

    def get(self, name, version=None):
        record = self._load(name)
        if record is not None and record["deleted"]:
            raise SecretNotFoundError(f"secret `{name}` is deleted (restore it first)")
        current = None
        if record is None:
            current = self._current(name)
            record = self._adopt(name, current)
        head = _head(record)
        if version is None or version == head["version"]:
            current = current or self._current(name)
            current.version = head["version"]
            return current
        entry = next((e for e in record["versions"] if e["version"] == version), None)
        if entry is None or entry["state"] == "destroyed":
            how = "destroyed" if entry else "no longer kept or never written"
            raise SecretNotFoundError(f"secret `{name}` has no version {version} ({how})")
        kept = self.storage.get_json(_values_key(name, version))
        if not isinstance(kept, dict) or not isinstance(kept.get("values"), dict):
            raise BackendError(f"the values of version {version} of `{name}` are missing")
        return Secret(name, kept["schema"], kept["values"], version=version)

    def update(self, secret, expected=None):
        name = secret.name
        record = self._live(name)
        head = _head(record)
        if expected is not None and expected != head["version"]:
            raise ConflictError(f"secret `{name}` is at version {head['version']}, not "
                                f"{expected}: nothing was written")
        self._keep_values(name, head["version"], self._current(name))
        self.flavor.update_secret(secret)
        now = self._tick(record)
        head["state"] = "previous"
        number = max(e["version"] for e in record["versions"]) + 1
        record["versions"].append({"version": number, "created": now, "state": "current",
                                   "schema": secret.schema})
        record["updated"] = now
        self._trim(name, record)
        self._store(name, record, False)
        return number

    def _trim(self, name, record):
        """Forgets the oldest versions past `max_versions` (never the head)."""
        versions = record["versions"]
        while len(versions) > self.max_versions:
            oldest = next(e for e in versions if e["state"] in ("previous", "destroyed"))
            versions.remove(oldest)
            self.storage.delete(_values_key(name, oldest["version"]))

    def delete(self, name, purge=False):
        if purge:
            record = self._load(name)
            if record is None or not record["deleted"]:
                try:
                    self.flavor.delete_secret(name)
                except KeyError:
                    # No secret at all, or a record whose secret the backend lost.
                    if record is None:
                        raise
            self._forget(name)
            return
        record = self._load(name)
        if record is not None and record["deleted"]:
            raise SecretNotFoundError(f"secret `{name}` is deleted already")
        current = self._current(name)
        record = record or self._adopt(name, current)
        head = _head(record)
        self._keep_values(name, head["version"], current)
        self.flavor.delete_secret(name)
        head["state"] = "deleted"
        record["deleted"] = True
        record["updated"] = self._tick(record)
        self._store(name, record, False)

    def restore(self, name):
        record = self._load(name)
        if record is None:
            self._current(name)  # not-found, unless the backend has it live
            raise InvalidError(f"secret `{name}` is not deleted")
        if not record["deleted"]:
            raise InvalidError(f"secret `{name}` is not deleted")
        head = _head(record)
        kept = self.storage.get_json(_values_key(name, head["version"]))
        if not isinstance(kept, dict) or not isinstance(kept.get("values"), dict):
            raise BackendError(f"the values of deleted secret `{name}` are missing")
        self.flavor.register_secret(Secret(name, kept["schema"], kept["values"]))
        self.storage.delete(_values_key(name, head["version"]))
        head["state"] = "current"
        record["deleted"] = False
        record["updated"] = self._tick(record)
        self._store(name, record, True)

    def destroy(self, name, versions):
        record = self._any(name)
        head = _head(record)
        newest = max(e["version"] for e in record["versions"])
        for number in versions:
            if number == head["version"]:
                raise InvalidError(f"version {number} of `{name}` is its {head['state']} "
                                   "version; update or delete the secret instead")
            if number > newest:
                raise InvalidError(f"secret `{name}` has had no version {number}")
        destroyed = False
        for entry in record["versions"]:
            if entry["version"] in versions and entry["state"] == "previous":
                entry["state"] = "destroyed"
                self.storage.delete(_values_key(name, entry["version"]))
                destroyed = True
        if destroyed:
            record["updated"] = self._tick(record)
            self._store(name, record, record["deleted"])

    def set_labels(self, name, labels):
        record = self._live(name)
        record["labels"] = list(labels.items())
        record["updated"] = self._tick(record)
        self._store(name, record, False)

    def metadata(self, name):
        return self._metadata(name, self._any(name))

    def history(self, name):
        record = self._any(name)
        versions = [VersionInfo(e["version"], e["created"], e["state"])
                    for e in record["versions"]]
        return SecretHistory(self._metadata(name, record), versions)

    def list(self, include_deleted=False):
        listed = {}
        for name in self.flavor.get_all_secret_keys():
            name = str(name)
            record = self._load(name)
            if record is None:
                try:
                    record = self._adopt(name, self._current(name))
                except KeyError:
                    continue  # listed, then gone: not a secret to describe
            listed[name] = self._metadata(name, record)
        if include_deleted:
            for key in self.storage.keys(_DELETED):
                name = key[len(_DELETED):]
                if name not in listed:
                    listed[name] = self._metadata(name, self._load(name))
        return list(listed.values())

    def delete_all(self, force=False):
        if not force:
            raise InvalidError("deleting all secrets needs force=True")
        self.flavor.delete_all_secrets(force=True)
        for key in self.storage.keys(RESERVED_PREFIX):
            self.storage.delete(key)
