// vault-js: examples/vault in JavaScript: secrets in HashiCorp Vault's (or
// OpenBao's) KV version 2 engine, one Vault secret per flavorbox secret, its
// key-values plus the schema under `zenml_schema_name`, at
// `<mount>/data/<namespace>/<name>`. Creating uses check-and-set 0 and
// updating the version just read. It implements ZenML's six methods; the
// rest of contract 0.2 (versions, check-and-set, soft delete, labels) is the
// SDK's, kept in flavorbox's storage beside the secrets in Vault, and
// `validateConfig` is overridden to judge the address before a manager is
// registered. Needs the `http` capability for the Vault origin and `storage`
// (`flavorbox flavor register vault-js.wasm --grant storage --allow-host URL`).

import {
  BackendError, BaseSecretsManager, ConfigError, DeniedError, InvalidError, Secret,
  SecretExistsError, SecretNotFoundError, configField, exportFlavor, http,
} from './flavorbox-sdk.js';

const SCHEMA_KEY = 'zenml_schema_name';
const SEGMENT = /^[A-Za-z0-9_.-]+$/;

class VaultJs extends BaseSecretsManager {
  static FLAVOR = 'vault-js';
  static DESCRIPTION = 'Secrets in a Vault or OpenBao KV v2 engine, over HTTP (JavaScript).';
  static CAPABILITIES = ['http', 'storage'];
  static CONFIG = [
    configField('address', 'Vault origin, e.g. https://vault.internal:8200', { required: true }),
    configField('token', 'Vault token with read/write on the mount', { required: true, secret: true }),
    configField('mount', 'KV v2 mount path (default: secret)'),
    configField('namespace', 'path prefix: secrets live as <namespace>/<name>'),
  ];

  validateConfig(config) {
    super.validateConfig(config);
    let address;
    try {
      address = new URL(config.address);
    } catch (e) {
      address = undefined;
    }
    if (!address || !['http:', 'https:'].includes(address.protocol) || !address.hostname) {
      throw new ConfigError('config `address` must be an http(s) origin, e.g. https://vault.internal:8200');
    }
  }

  url(kind, name = '') {
    const mount = this.config.get('mount', 'secret').replace(/^\/+|\/+$/g, '');
    const namespace = this.config.get('namespace', '').replace(/^\/+|\/+$/g, '');
    for (const segment of [...mount.split('/'), ...namespace.split('/'), name].filter(Boolean)) {
      if (!SEGMENT.test(segment) || segment === '.' || segment === '..') {
        throw new ConfigError(`bad path segment \`${segment}\` in mount or namespace`);
      }
    }
    const path = [namespace, name].filter(Boolean).join('/');
    return `${this.config.require('address').replace(/\/+$/, '')}/v1/${mount}/${kind}/${path}`;
  }

  call(method, url, json) {
    const answer = http.request(method, url, { headers: { 'X-Vault-Token': this.config.require('token') }, json, timeout: 4 });
    if (answer.status === 401 || answer.status === 403) throw new DeniedError(`Vault refused the token (HTTP ${answer.status})`);
    if (answer.status >= 500) throw new BackendError(`Vault answered HTTP ${answer.status}`);
    return answer;
  }

  read(name) {
    const answer = this.call('GET', this.url('data', name));
    if (answer.status === 404) throw new SecretNotFoundError(name);
    return answer.raiseForStatus().json().data;
  }

  write(secret, cas) {
    if (SCHEMA_KEY in secret.values) throw new InvalidError(`key \`${SCHEMA_KEY}\` is reserved by the vault flavor`);
    const data = { ...secret.values, [SCHEMA_KEY]: secret.schema };
    const answer = this.call('POST', this.url('data', secret.name), { options: { cas }, data });
    if (answer.status === 400 && answer.text().includes('check-and-set')) {
      if (cas === 0) throw new SecretExistsError(`secret \`${secret.name}\` already exists`);
      throw new BackendError(`secret \`${secret.name}\` changed while it was updated`);
    }
    answer.raiseForStatus();
  }

  registerSecret(secret) { this.write(secret, 0); }

  getSecret(secretName) {
    const data = { ...this.read(secretName).data };
    const schema = data[SCHEMA_KEY] ?? 'arbitrary';
    delete data[SCHEMA_KEY];
    return new Secret(secretName, schema, data);
  }

  getAllSecretKeys() {
    const answer = this.call('GET', `${this.url('metadata')}?list=true`);
    if (answer.status === 404) return [];
    // Entries ending in "/" are folders (other namespaces), not secrets.
    return answer.raiseForStatus().json().data.keys.filter((k) => !k.endsWith('/'));
  }

  updateSecret(secret) { this.write(secret, this.read(secret.name).metadata.version); }

  deleteSecret(secretName) {
    if (this.call('GET', this.url('metadata', secretName)).status === 404) throw new SecretNotFoundError(secretName);
    this.call('DELETE', this.url('metadata', secretName)).raiseForStatus();
  }

  deleteAllSecrets(force = false) {
    if (!force) throw new InvalidError('deleting all secrets needs force = true');
    for (const name of this.getAllSecretKeys()) this.call('DELETE', this.url('metadata', name)).raiseForStatus();
  }
}

const flavor = exportFlavor(VaultJs);
export const secretsManager = flavor.secretsManager;
export const metadata = flavor.metadata;
