// {{name}}: a secrets-manager flavor that keeps its secrets in the storage
// flavorbox gives each secrets manager (ZenML's BaseSecretsManager, in
// JavaScript).
//
// It implements ZenML's six methods; the rest of contract 0.2 (versions,
// check-and-set, soft delete and restore, labels, metadata) is inherited from
// the SDK, which keeps it in the same storage under `_flavorbox/` and calls
// these six for the current values. A flavor over a backend that keeps
// versions itself sets `static NATIVE_HISTORY = true` and implements every
// operation in the contract's shape instead (see docs/flavor-authoring.md).
//
// Build it with `flavorbox flavor build .`, check it with `flavorbox evaluate`,
// then `flavorbox flavor register {{name}}.wasm --grant storage`.

import {
  BaseSecretsManager,
  InvalidError,
  Secret,
  SecretExistsError,
  SecretNotFoundError,
  exportFlavor,
} from './flavorbox-sdk.js';

// One storage key per secret: "secret/<name>" -> {"schema": ..., "values": {...}}.
const PREFIX = 'secret/';

class {{class}} extends BaseSecretsManager {
  static FLAVOR = '{{name}}';
  static VERSION = '0.1.0';
  static DESCRIPTION = "Secrets kept in flavorbox's per-manager storage.";
  static CAPABILITIES = ['storage'];
  static CONFIG = [];

  registerSecret(secret) {
    if (this.storage.get(PREFIX + secret.name) !== undefined) {
      throw new SecretExistsError(`secret \`${secret.name}\` already exists`);
    }
    this.write(secret);
  }

  getSecret(secretName) {
    const stored = this.storage.getJson(PREFIX + secretName);
    if (stored === undefined) throw new SecretNotFoundError(secretName);
    return new Secret(secretName, stored.schema, stored.values);
  }

  getAllSecretKeys() {
    return this.storage.keys(PREFIX).map((key) => key.slice(PREFIX.length));
  }

  updateSecret(secret) {
    if (this.storage.get(PREFIX + secret.name) === undefined) {
      throw new SecretNotFoundError(secret.name);
    }
    this.write(secret);
  }

  deleteSecret(secretName) {
    if (!this.storage.delete(PREFIX + secretName)) throw new SecretNotFoundError(secretName);
  }

  deleteAllSecrets(force = false) {
    if (!force) throw new InvalidError('deleting all secrets needs force = true');
    for (const key of this.storage.keys(PREFIX)) this.storage.delete(key);
  }

  write(secret) {
    this.storage.setJson(PREFIX + secret.name, { schema: secret.schema, values: secret.values });
    this.log.debug(`stored secret \`${secret.name}\` (${Object.keys(secret.values).length} keys)`);
  }
}

// componentize-js calls the exports named after the world's interfaces.
const flavor = exportFlavor({{class}});
export const secretsManager = flavor.secretsManager;
export const metadata = flavor.metadata;
