"""What a flavor hands the SDK and gets from it, in Python's shape: a
`Secret` (with the version it is, when read), a `ConfigField`, and, for
the history of contract 0.2, `SecretMetadata`, `VersionInfo` and
`SecretHistory`.

Guards against secret values leaking through a repr: a `Secret` shows its
name, schema, version and keys, never its values, since a repr can end up
in a log line or a traceback.
"""

from dataclasses import dataclass, field

#: Where a version stands (the WIT's `version-state`).
VERSION_STATES = ("current", "previous", "deleted", "destroyed")


class Secret:
    """A secret: a name, the schema its values were checked against
    (`arbitrary`, `aws`, `mysql`, or a user's own), and its key-values.

    `content` is ZenML's name for `values`. `version` is the version the
    values are, when read (`None` for a secret about to be written)."""

    def __init__(self, name, schema="arbitrary", values=None, version=None):
        self.name = name
        self.schema = schema
        self.values = dict(values or {})
        self.version = version

    @property
    def content(self):
        return self.values

    def __repr__(self):
        # Never the values: a repr can end up in a log or a traceback.
        version = "" if self.version is None else f", version={self.version}"
        return (f"Secret(name={self.name!r}, schema={self.schema!r}{version}, "
                f"keys={sorted(self.values)!r})")

    def __eq__(self, other):
        return (isinstance(other, Secret) and self.name == other.name
                and self.schema == other.schema and self.values == other.values)


class ConfigField:
    """One configuration key the flavor takes. A `secret` field (a token, a
    password) is never printed by the host."""

    def __init__(self, name, description="", required=False, secret=False):
        self.name = name
        self.description = description
        self.required = required
        self.secret = secret


@dataclass
class SecretMetadata:
    """What a secret is, without its values. Times are milliseconds since
    the Unix epoch; `current_version` is the current version's number (the
    `deleted` one's for a soft-deleted secret); `labels` a dict."""

    name: str
    schema: str
    created: int
    updated: int
    current_version: int
    deleted: bool = False
    labels: dict = field(default_factory=dict)


@dataclass
class VersionInfo:
    """One version, without its values: its number, when it was written,
    its state (one of `VERSION_STATES`) and, where the backend records it,
    who wrote it."""

    version: int
    created: int
    state: str
    author: str = None


@dataclass
class SecretHistory:
    """A secret's metadata and the versions kept, oldest first."""

    metadata: SecretMetadata
    versions: list
