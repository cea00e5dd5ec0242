// flavorbox's JavaScript SDK: write a secrets-manager flavor the way ZenML
// users do, as a class extending `BaseSecretsManager`, and build it into a
// WebAssembly component of contract 0.2 with componentize-js (`flavorbox
// flavor build`).
//
//     import { BaseSecretsManager, Secret, SecretExistsError, exportFlavor }
//       from './flavorbox-sdk.js';
//     class MyVault extends BaseSecretsManager { static FLAVOR = 'myvault'; ... }
//     const flavor = exportFlavor(MyVault);
//     export const secretsManager = flavor.secretsManager;
//     export const metadata = flavor.metadata;
//
// A flavor implements ZenML's six methods; the rest of contract 0.2
// (versions, check-and-set, soft delete and restore, destroy, labels,
// metadata) is inherited: the SDK keeps it in the flavor's storage around
// the six (`KeptHistory` below), so such a flavor declares `storage`. A
// flavor whose backend keeps versions itself sets `static NATIVE_HISTORY =
// true` and implements every operation in the contract's shape instead
// (`getSecret(name, version)` returning a `Secret` with its `version`,
// `updateSecret(secret, expected)` returning the version written,
// `deleteSecret(name, purge)`, ...). `validateConfig` (default: every
// required config field is set) may be overridden by either.
//
// Every operation runs in a fresh instance of the component: nothing kept
// on `this` or in module state survives it; keep state in `this.storage`
// (or a backend). Exceptions become the WIT `error` variant they name
// (below); any other exception is logged with its stack and answered as
// `backend`, so a bug in a flavor is a failed operation, never a crash.
// HTTP goes through `wasi:http` synchronously (`http` below): `fetch` needs
// an event loop that a synchronous operation never runs.
//
// One file, longer than most (about 870 lines), so that a project carries
// one SDK file and imports everything from it; its sections (errors, host
// capabilities, HTTP, the kept history, the flavor) are marked below.

import * as hostStorage from 'flavorbox:secrets/storage@0.2.0';
import * as hostConfig from 'flavorbox:secrets/config@0.2.0';
import { log as hostLog } from 'flavorbox:secrets/log@0.2.0';
import { handle } from 'wasi:http/outgoing-handler@0.2.12';
import { Fields, OutgoingBody, OutgoingRequest, RequestOptions } from 'wasi:http/types@0.2.12';
import { poll } from 'wasi:io/poll@0.2.12';
import { now, subscribeDuration } from 'wasi:clocks/monotonic-clock@0.2.12';

// ---- errors ---------------------------------------------------------------
//
//   SecretExistsError              -> already-exists
//   SecretNotFoundError            -> not-found
//   InvalidError (and ConfigError) -> invalid
//   DeniedError                    -> denied
//   ConflictError                  -> conflict (a check-and-set write found
//                                     another version; nothing was written)
//   BackendError, anything else    -> backend

export class FlavorError extends Error {
  static variant = 'backend';
  constructor(message) {
    super(message);
    this.name = this.constructor.name;
  }
  get variant() { return this.constructor.variant; }
}
export class SecretExistsError extends FlavorError { static variant = 'already-exists'; }
export class SecretNotFoundError extends FlavorError { static variant = 'not-found'; }
export class InvalidError extends FlavorError { static variant = 'invalid'; }
export class ConfigError extends InvalidError {}
export class DeniedError extends FlavorError { static variant = 'denied'; }
export class BackendError extends FlavorError { static variant = 'backend'; }
export class ConflictError extends FlavorError { static variant = 'conflict'; }
export class HttpError extends BackendError {
  constructor(message, status) { super(message); this.status = status; }
}
export class HttpTimeout extends HttpError {}

const BY_VARIANT = {
  'not-found': SecretNotFoundError,
  'already-exists': SecretExistsError,
  'invalid': InvalidError,
  'denied': DeniedError,
  'backend': BackendError,
  'conflict': ConflictError,
};

// A host call's error (a thrown `{ payload: { tag, val } }`) as our exception.
function hostCall(fn, ...args) {
  try {
    return fn(...args);
  } catch (e) {
    const payload = e && e.payload;
    if (payload && typeof payload.tag === 'string') {
      throw new (BY_VARIANT[payload.tag] || BackendError)(String(payload.val));
    }
    throw e;
  }
}

// ---- host capabilities ----------------------------------------------------

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Key-value storage in this secrets manager's own namespace (capability
 * `storage`). Values are bytes; a string is stored as UTF-8. Writes are
 * committed only if the operation succeeds. */
export const storage = {
  get(key) { return hostCall(hostStorage.get, key); },
  set(key, value) {
    const bytes = typeof value === 'string' ? encoder.encode(value) : value;
    if (!(bytes instanceof Uint8Array)) {
      throw new TypeError(`storage values are a Uint8Array or a string, not ${typeof value}`);
    }
    hostCall(hostStorage.set, key, bytes);
  },
  delete(key) { return hostCall(hostStorage.delete, key); },
  keys(prefix = '') { return hostCall(hostStorage.listKeys, prefix); },
  getJson(key) {
    const raw = this.get(key);
    return raw === undefined ? undefined : JSON.parse(decoder.decode(raw));
  },
  setJson(key, value) { this.set(key, JSON.stringify(value)); },
};

/** This secrets manager's configuration (read-only). */
export const config = {
  get(key, fallback = undefined) {
    const value = hostConfig.get(key);
    return value === undefined ? fallback : value;
  },
  require(key) {
    const value = hostConfig.get(key);
    if (value === undefined) throw new ConfigError(`config \`${key}\` is not set`);
    return value;
  },
  all() { return Object.fromEntries(hostConfig.all()); },
};

/** Diagnostics (`FLAVORBOX_LOG=flavor=info` shows them); capped per call,
 * and the host masks any secret value the call handled. */
export const log = {
  trace(message) { hostLog('trace', String(message)); },
  debug(message) { hostLog('debug', String(message)); },
  info(message) { hostLog('info', String(message)); },
  warn(message) { hostLog('warn', String(message)); },
  error(message) { hostLog('error', String(message)); },
};

// ---- HTTP over wasi:http ----------------------------------------------------

const CHUNK = 4096;

function dispose(resource) {
  if (resource && typeof resource[Symbol.dispose] === 'function') resource[Symbol.dispose]();
}

function waitFor(pollable, deadline, what) {
  const remaining = deadline - now();
  if (remaining <= 0n) throw new HttpTimeout(`HTTP timeout while ${what}`);
  const timer = subscribeDuration(remaining);
  try {
    const ready = poll([pollable, timer]);
    if (!Array.from(ready).includes(0)) throw new HttpTimeout(`HTTP timeout while ${what}`);
  } finally {
    dispose(timer);
  }
}

function describeCode(payload) {
  if (!payload || typeof payload !== 'object') return String(payload);
  return payload.val === undefined ? payload.tag : `${payload.tag} (${JSON.stringify(payload.val, (k, v) => (typeof v === 'bigint' ? String(v) : v))})`;
}

export class Response {
  constructor(status, headers, body) {
    this.status = status;
    /** Header names are lower case; repeated headers are joined by ", ". */
    this.headers = headers;
    /** The body, as a Uint8Array. */
    this.body = body;
  }
  get ok() { return this.status >= 200 && this.status < 300; }
  text() { return decoder.decode(this.body); }
  json() {
    try {
      return JSON.parse(this.text());
    } catch (e) {
      throw new HttpError(`HTTP ${this.status}: the answer is not JSON (${e.message})`, this.status);
    }
  }
  raiseForStatus() {
    if (!this.ok) throw new HttpError(`HTTP ${this.status}`, this.status);
    return this;
  }
}

/** Sends one request and reads the whole answer (any status; call
 * `raiseForStatus()` to treat 4xx/5xx as errors). `timeout` is in seconds
 * for the whole exchange; the call's own deadline applies as well. Needs the
 * `http` capability and an origin granted with `--allow-host`. No redirect
 * is followed. */
function request(method, url, { headers = {}, body, json, timeout = 5, maxBytes = 16 * 1024 * 1024 } = {}) {
  let parsed;
  try {
    parsed = new URL(url);
  } catch (e) {
    throw new HttpError(`not a URL: ${url}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new HttpError(`not an http(s) URL: ${url}`);
  }
  const headerList = Object.entries(headers).map(([k, v]) => [k.toLowerCase(), encoder.encode(String(v))]);
  if (json !== undefined) {
    body = JSON.stringify(json);
    if (!headerList.some(([k]) => k === 'content-type')) {
      headerList.push(['content-type', encoder.encode('application/json')]);
    }
  }
  if (typeof body === 'string') body = encoder.encode(body);
  const timeoutNs = BigInt(Math.round(timeout * 1e9));
  const deadline = now() + timeoutNs;
  const verb = method.toUpperCase();
  const known = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH'];
  const methodVariant = known.includes(verb) ? { tag: verb.toLowerCase() } : { tag: 'other', val: verb };
  const origin = `${parsed.protocol}//${parsed.host}`;

  const fields = hostCallHttp(() => Fields.fromList(headerList), 'bad header');
  const outgoing = new OutgoingRequest(fields);
  outgoing.setMethod(methodVariant);
  outgoing.setScheme({ tag: parsed.protocol === 'https:' ? 'HTTPS' : 'HTTP' });
  outgoing.setAuthority(parsed.host);
  outgoing.setPathWithQuery((parsed.pathname || '/') + parsed.search);
  const outgoingBody = outgoing.body();
  const options = new RequestOptions();
  for (const set of ['setConnectTimeout', 'setFirstByteTimeout', 'setBetweenBytesTimeout']) {
    try { options[set](timeoutNs); } catch (e) { /* the host keeps its own bound */ }
  }
  const future = hostCallHttp(() => handle(outgoing, options), `${verb} ${origin} failed`);
  if (body && body.length) {
    const stream = outgoingBody.write();
    try {
      for (let start = 0; start < body.length; start += CHUNK) {
        hostCallHttp(() => stream.blockingWriteAndFlush(body.subarray(start, start + CHUNK)), 'the request body could not be sent');
      }
    } finally {
      dispose(stream);
    }
  }
  OutgoingBody.finish(outgoingBody, undefined);

  const ready = future.subscribe();
  try {
    waitFor(ready, deadline, 'waiting for the answer');
  } finally {
    dispose(ready);
  }
  const answer = future.get();
  dispose(future);
  if (answer === undefined || answer.tag !== 'ok') throw new HttpError('no answer');
  if (answer.val.tag !== 'ok') throw new HttpError(`${verb} ${origin} failed: ${describeCode(answer.val.val)}`);
  const incoming = answer.val.val;
  const status = incoming.status();
  const responseHeaders = {};
  const fieldsIn = incoming.headers();
  for (const [name, value] of fieldsIn.entries()) {
    const text = decoder.decode(value);
    responseHeaders[name] = name in responseHeaders ? `${responseHeaders[name]}, ${text}` : text;
  }
  dispose(fieldsIn);
  const incomingBody = incoming.consume();
  const stream = incomingBody.stream();
  const chunks = [];
  let size = 0;
  try {
    for (;;) {
      let chunk;
      try {
        chunk = stream.read(65536n);
      } catch (e) {
        if (e && e.payload && e.payload.tag === 'closed') break;
        throw new HttpError("the answer's body broke off");
      }
      if (chunk.length) {
        size += chunk.length;
        if (size > maxBytes) throw new HttpError(`the answer is larger than ${maxBytes} bytes`);
        chunks.push(chunk);
        continue;
      }
      const readable = stream.subscribe();
      try {
        waitFor(readable, deadline, 'reading the answer');
      } finally {
        dispose(readable);
      }
    }
  } finally {
    dispose(stream);
    dispose(incomingBody);
    dispose(incoming);
  }
  const data = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    data.set(chunk, offset);
    offset += chunk.length;
  }
  return new Response(status, responseHeaders, data);
}

function hostCallHttp(fn, what) {
  try {
    return fn();
  } catch (e) {
    if (e instanceof FlavorError) throw e;
    throw new HttpError(`${what}: ${describeCode(e && e.payload)}`);
  }
}

export const http = {
  request,
  get: (url, options) => request('GET', url, options),
  post: (url, options) => request('POST', url, options),
  put: (url, options) => request('PUT', url, options),
  delete: (url, options) => request('DELETE', url, options),
};

// ---- secrets and their history ---------------------------------------------------

/** A secret: a name, the schema its values were checked against, and its
 * key-values (`values`, a plain object; `content` is ZenML's name).
 * `version` is the version the values are, when read (undefined for a
 * secret about to be written). */
export class Secret {
  constructor(name, schema = 'arbitrary', values = {}, version = undefined) {
    this.name = name;
    this.schema = schema;
    this.values = { ...values };
    this.version = version;
  }
  get content() { return this.values; }
  toJSON() {
    // Never the values: this can end up in a log line.
    return { name: this.name, schema: this.schema, version: this.version, keys: Object.keys(this.values).sort() };
  }
}

/** One config key the flavor takes; a `secret` one is never printed. */
export function configField(name, description = '', { required = false, secret = false } = {}) {
  return { name, description, required, secret };
}

/** Where a version stands (the WIT's `version-state`). */
export const VERSION_STATES = ['current', 'previous', 'deleted', 'destroyed'];

/** What a secret is, without its values: times in ms since the Unix
 * epoch, `currentVersion` (the `deleted` one's when soft-deleted), labels
 * a plain object. */
export function secretMetadata(name, schema, { created, updated, currentVersion, deleted = false, labels = {} }) {
  return { name, schema, created, updated, currentVersion, deleted, labels: { ...labels } };
}

/** One version without its values; `state` is one of `VERSION_STATES`. */
export function versionInfo(version, created, state, author = undefined) {
  return { version, created, state, author };
}

/** The storage keys the SDK keeps history under; a flavor keeps out of them. */
export const RESERVED_PREFIX = '_flavorbox/';
const LIVE = `${RESERVED_PREFIX}live/`;
const DELETED = `${RESERVED_PREFIX}deleted/`;
const VALUES = `${RESERVED_PREFIX}values/`;

const recordKey = (name, deleted) => `${deleted ? DELETED : LIVE}${name}`;
const valuesKey = (name, version) => `${VALUES}${name}/${version}`;
const missing = (name) => new SecretNotFoundError(`secret \`${name}\` does not exist`);

function head(record) {
  const found = record.versions.find((e) => e.state === 'current' || e.state === 'deleted');
  if (!found) throw new BackendError("the SDK's history record of a secret names no current version");
  return found;
}

/** The history of contract 0.2 for a flavor whose backend keeps none, as
 * the Python SDK's `history.py` keeps it (the same
 * storage layout, so both SDKs read each other's):
 *
 *     _flavorbox/live/<name>        a secret's record: versions (number, time,
 *     _flavorbox/deleted/<name>     state, schema), labels, times; under
 *                                   `deleted/` while it is soft-deleted
 *     _flavorbox/values/<name>/<n>  the values of version n, for every version
 *                                   but the current one (the backend holds it)
 *
 * An update reads the current values from the flavor (`getSecret`) and
 * keeps them as the previous version before calling `updateSecret`; a soft
 * delete keeps them likewise, then calls `deleteSecret`; a restore calls
 * `registerSecret` with them. A secret the backend has and no record names
 * is taken up as version 1, created when first seen. The newest
 * `MAX_VERSIONS` versions are kept; older ones are forgotten.
 *
 * Guards against numbers reused or times going back (a new number is one
 * more than the newest, which is always the current one; a time is never
 * before the record's last change), a refused write leaving anything
 * behind (every rule is checked before the first write, and the host
 * commits a call's storage writes only if it answers `ok`), a soft-deleted
 * name taken again, and values in an error (errors name secrets, versions
 * and keys, never values). */
export class KeptHistory {
  constructor(flavor, maxVersions) {
    this.flavor = flavor;
    this.storage = flavor.storage;
    this.maxVersions = Math.max(1, Math.floor(Number(maxVersions)) || 1);
  }

  load(name) {
    for (const deleted of [false, true]) {
      const record = this.storage.getJson(recordKey(name, deleted));
      if (record !== undefined) {
        if (!record || !Array.isArray(record.versions) || !record.versions.length) {
          throw new BackendError(`the SDK's history record of \`${name}\` is corrupt`);
        }
        record.deleted = deleted;
        return record;
      }
    }
    return undefined;
  }

  store(name, record, wasDeleted = undefined) {
    if (wasDeleted !== undefined && wasDeleted !== record.deleted) this.storage.delete(recordKey(name, wasDeleted));
    this.storage.setJson(recordKey(name, record.deleted), record);
  }

  forget(name) {
    for (const deleted of [false, true]) this.storage.delete(recordKey(name, deleted));
    for (const key of this.storage.keys(`${VALUES}${name}/`)) this.storage.delete(key);
  }

  static tick(record = undefined) {
    const now = Date.now();
    return record ? Math.max(now, record.updated) : now;
  }

  current(name) {
    const found = this.flavor.getSecret(name);
    if (!(found instanceof Secret)) throw new BackendError('getSecret must return a Secret');
    found.name = name;
    return found;
  }

  adopt(name, current) {
    const now = KeptHistory.tick();
    const record = {
      created: now, updated: now, deleted: false, labels: [],
      versions: [{ version: 1, created: now, state: 'current', schema: current.schema }],
    };
    this.store(name, record);
    return record;
  }

  any(name) {
    return this.load(name) ?? this.adopt(name, this.current(name));
  }

  live(name) {
    const record = this.any(name);
    if (record.deleted) throw new SecretNotFoundError(`secret \`${name}\` is deleted (restore it first)`);
    return record;
  }

  keepValues(name, version, secret) {
    this.storage.setJson(valuesKey(name, version), { schema: secret.schema, values: secret.values });
  }

  readValues(name, version, what) {
    const kept = this.storage.getJson(valuesKey(name, version));
    if (!kept || typeof kept.values !== 'object' || kept.values === null) {
      throw new BackendError(`the values of ${what} are missing`);
    }
    return kept;
  }

  static metadata(name, record) {
    const h = head(record);
    return secretMetadata(name, h.schema, {
      created: record.created, updated: record.updated, currentVersion: h.version,
      deleted: record.deleted, labels: Object.fromEntries(record.labels),
    });
  }

  register(secret, labels) {
    const record = this.load(secret.name);
    if (record && record.deleted) {
      throw new SecretExistsError(`secret \`${secret.name}\` already exists (deleted: restore or purge it)`);
    }
    this.flavor.registerSecret(secret);
    // A record whose secret the backend had lost: this is a new secret.
    if (record) this.forget(secret.name);
    const now = KeptHistory.tick();
    this.store(secret.name, {
      created: now, updated: now, deleted: false, labels: Object.entries(labels),
      versions: [{ version: 1, created: now, state: 'current', schema: secret.schema }],
    });
  }

  get(name, version = undefined) {
    let record = this.load(name);
    if (record && record.deleted) throw new SecretNotFoundError(`secret \`${name}\` is deleted (restore it first)`);
    let current;
    if (!record) {
      current = this.current(name);
      record = this.adopt(name, current);
    }
    const h = head(record);
    if (version === undefined || version === h.version) {
      current = current ?? this.current(name);
      current.version = h.version;
      return current;
    }
    const entry = record.versions.find((e) => e.version === version);
    if (!entry || entry.state === 'destroyed') {
      const how = entry ? 'destroyed' : 'no longer kept or never written';
      throw new SecretNotFoundError(`secret \`${name}\` has no version ${version} (${how})`);
    }
    const kept = this.readValues(name, version, `version ${version} of \`${name}\``);
    return new Secret(name, kept.schema, kept.values, version);
  }

  update(secret, expected = undefined) {
    const { name } = secret;
    const record = this.live(name);
    const h = head(record);
    if (expected !== undefined && expected !== h.version) {
      throw new ConflictError(`secret \`${name}\` is at version ${h.version}, not ${expected}: nothing was written`);
    }
    this.keepValues(name, h.version, this.current(name));
    this.flavor.updateSecret(secret);
    const now = KeptHistory.tick(record);
    h.state = 'previous';
    const number = Math.max(...record.versions.map((e) => e.version)) + 1;
    record.versions.push({ version: number, created: now, state: 'current', schema: secret.schema });
    record.updated = now;
    // The oldest versions past `maxVersions` are forgotten (never the head).
    while (record.versions.length > this.maxVersions) {
      const oldest = record.versions.findIndex((e) => e.state === 'previous' || e.state === 'destroyed');
      const [dropped] = record.versions.splice(oldest, 1);
      this.storage.delete(valuesKey(name, dropped.version));
    }
    this.store(name, record, false);
    return number;
  }

  delete(name, purge = false) {
    let record = this.load(name);
    if (purge) {
      if (!record || !record.deleted) {
        try {
          this.flavor.deleteSecret(name);
        } catch (e) {
          // No secret at all, or a record whose secret the backend lost.
          if (!(e instanceof SecretNotFoundError) || !record) throw e;
        }
      }
      this.forget(name);
      return;
    }
    if (record && record.deleted) throw new SecretNotFoundError(`secret \`${name}\` is deleted already`);
    const current = this.current(name);
    record = record ?? this.adopt(name, current);
    const h = head(record);
    this.keepValues(name, h.version, current);
    this.flavor.deleteSecret(name);
    h.state = 'deleted';
    record.deleted = true;
    record.updated = KeptHistory.tick(record);
    this.store(name, record, false);
  }

  restore(name) {
    const record = this.load(name);
    if (!record) {
      this.current(name); // not-found, unless the backend has it live
      throw new InvalidError(`secret \`${name}\` is not deleted`);
    }
    if (!record.deleted) throw new InvalidError(`secret \`${name}\` is not deleted`);
    const h = head(record);
    const kept = this.readValues(name, h.version, `deleted secret \`${name}\``);
    this.flavor.registerSecret(new Secret(name, kept.schema, kept.values));
    this.storage.delete(valuesKey(name, h.version));
    h.state = 'current';
    record.deleted = false;
    record.updated = KeptHistory.tick(record);
    this.store(name, record, true);
  }

  destroy(name, versions) {
    const record = this.any(name);
    const h = head(record);
    const newest = Math.max(...record.versions.map((e) => e.version));
    for (const number of versions) {
      if (number === h.version) {
        throw new InvalidError(`version ${number} of \`${name}\` is its ${h.state} version; update or delete the secret instead`);
      }
      if (number > newest) throw new InvalidError(`secret \`${name}\` has had no version ${number}`);
    }
    let destroyed = false;
    for (const entry of record.versions) {
      if (versions.includes(entry.version) && entry.state === 'previous') {
        entry.state = 'destroyed';
        this.storage.delete(valuesKey(name, entry.version));
        destroyed = true;
      }
    }
    if (destroyed) {
      record.updated = KeptHistory.tick(record);
      this.store(name, record, record.deleted);
    }
  }

  setLabels(name, labels) {
    const record = this.live(name);
    record.labels = Object.entries(labels);
    record.updated = KeptHistory.tick(record);
    this.store(name, record, false);
  }

  metadataOf(name) {
    return KeptHistory.metadata(name, this.any(name));
  }

  history(name) {
    const record = this.any(name);
    return {
      metadata: KeptHistory.metadata(name, record),
      versions: record.versions.map((e) => versionInfo(e.version, e.created, e.state)),
    };
  }

  list(includeDeleted = false) {
    const listed = new Map();
    for (const name of this.flavor.getAllSecretKeys().map(String)) {
      let record = this.load(name);
      if (!record) {
        try {
          record = this.adopt(name, this.current(name));
        } catch (e) {
          if (e instanceof SecretNotFoundError) continue; // listed, then gone
          throw e;
        }
      }
      listed.set(name, KeptHistory.metadata(name, record));
    }
    if (includeDeleted) {
      for (const key of this.storage.keys(DELETED)) {
        const name = key.slice(DELETED.length);
        if (!listed.has(name)) listed.set(name, KeptHistory.metadata(name, this.load(name)));
      }
    }
    return [...listed.values()];
  }

  deleteAll(force = false) {
    if (!force) throw new InvalidError('deleting all secrets needs force = true');
    this.flavor.deleteAllSecrets(true);
    for (const key of this.storage.keys(RESERVED_PREFIX)) this.storage.delete(key);
  }
}

// ---- the flavor -------------------------------------------------------------

export class BaseSecretsManager {
  /** The flavor's name. */
  static FLAVOR = '';
  static VERSION = '0.1.0';
  static DESCRIPTION = '';
  /** What the operator must grant: 'storage', 'http'. */
  static CAPABILITIES = [];
  /** Config keys, made with `configField`. */
  static CONFIG = [];
  /** true: the flavor keeps versions, soft deletes and labels in its backend
   * and implements every operation in the contract's shape; false: the SDK
   * keeps them in the flavor's storage. */
  static NATIVE_HISTORY = false;
  /** How many versions of a secret the SDK keeps (not NATIVE_HISTORY). */
  static MAX_VERSIONS = 10;

  get storage() { return storage; }
  get config() { return config; }
  get log() { return log; }
  get http() { return http; }

  // ZenML's six (with NATIVE_HISTORY, in the contract's shape: see above).
  registerSecret(secret) { throw new Error('registerSecret is not implemented'); }
  getSecret(secretName) { throw new Error('getSecret is not implemented'); }
  getAllSecretKeys() { throw new Error('getAllSecretKeys is not implemented'); }
  updateSecret(secret) { throw new Error('updateSecret is not implemented'); }
  deleteSecret(secretName) { throw new Error('deleteSecret is not implemented'); }
  deleteAllSecrets(force = false) { throw new Error('deleteAllSecrets is not implemented'); }

  // Contract 0.2: kept by the SDK unless NATIVE_HISTORY.
  keptHistory() { return new KeptHistory(this, this.constructor.MAX_VERSIONS); }
  /** The metadata (`secretMetadata`) of every secret, soft-deleted ones too if asked. */
  listSecrets(includeDeleted = false) { return this.keptHistory().list(includeDeleted); }
  /** The metadata of one secret, soft-deleted or not. */
  getMetadata(name) { return this.keptHistory().metadataOf(name); }
  /** `{ metadata, versions }`: the versions (`versionInfo`) oldest first. */
  listVersions(name) { return this.keptHistory().history(name); }
  /** Undoes a soft delete; `InvalidError` if the secret is not deleted. */
  restoreSecret(name) { this.keptHistory().restore(name); }
  /** Erases the values of `versions` (an array of numbers) for good. */
  destroyVersions(name, versions) { this.keptHistory().destroy(name, versions); }
  /** Replaces the secret's labels (a plain object); writes no version. */
  setLabels(name, labels) { this.keptHistory().setLabels(name, labels); }
  /** Judges `config` (a plain object) without storage or network; throw a
   * `ConfigError` to refuse it. Default: every required field is set. */
  validateConfig(config) {
    for (const field of this.constructor.CONFIG) {
      if (field.required && !config[field.name]) throw new ConfigError(`config \`${field.name}\` is required`);
    }
  }
}

const ZENML_METHODS = ['registerSecret', 'getSecret', 'getAllSecretKeys', 'updateSecret', 'deleteSecret', 'deleteAllSecrets'];
const HISTORY_METHODS = ['listSecrets', 'getMetadata', 'listVersions', 'restoreSecret', 'destroyVersions', 'setLabels'];
const KNOWN_CAPABILITIES = ['storage', 'http'];

// Runs one operation; its exception becomes the WIT error it names.
function answer(operation, body) {
  try {
    return body();
  } catch (e) {
    let variant = 'backend';
    let message;
    if (e instanceof FlavorError) {
      variant = e.variant;
      message = e.message;
    } else {
      message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      log.error(`${operation} failed: ${e instanceof Error && e.stack ? `${message}\n${e.stack}` : message}`);
    }
    const error = new Error(message);
    error.payload = { tag: variant, val: message || variant };
    throw error;
  }
}

// ---- to and from the WIT's shapes (u64 as BigInt there, Number here) ----

const fromWit = (secret) => new Secret(secret.name, secret.schema, Object.fromEntries(secret.values));
const optionalNumber = (value) => (value === undefined || value === null ? undefined : Number(value));

function isVersion(value) {
  return Number.isSafeInteger(value) && value >= 1;
}

function toWit(secret, name, version) {
  if (!(secret instanceof Secret)) throw new BackendError('getSecret must return a Secret');
  if (!isVersion(secret.version)) throw new BackendError('getSecret returned a Secret without its version');
  if (version !== undefined && secret.version !== version) {
    throw new BackendError(`getSecret of version ${version} returned version ${secret.version}`);
  }
  const values = Object.entries(secret.values).map(([k, v]) => {
    if (typeof v !== 'string') throw new BackendError(`secret \`${name}\`: values must be strings`);
    return [k, v];
  });
  return { secret: { name, schema: String(secret.schema), values }, version: BigInt(secret.version) };
}

const labelsToWit = (labels) => Object.entries(labels || {}).map(([k, v]) => [String(k), String(v)]);

function metadataToWit(meta) {
  if (!meta || typeof meta !== 'object') throw new BackendError('expected secret metadata');
  return {
    name: String(meta.name),
    schema: String(meta.schema),
    created: BigInt(meta.created),
    updated: BigInt(meta.updated),
    currentVersion: BigInt(meta.currentVersion),
    deleted: !!meta.deleted,
    labels: labelsToWit(meta.labels),
  };
}

function historyToWit(history) {
  if (!history || !Array.isArray(history.versions)) throw new BackendError('listVersions must return { metadata, versions }');
  return {
    metadata: metadataToWit(history.metadata),
    versions: history.versions.map((v) => {
      if (!VERSION_STATES.includes(v.state)) throw new BackendError(`version ${v.version} has no state \`${v.state}\``);
      return {
        version: BigInt(v.version),
        created: BigInt(v.created),
        state: v.state,
        author: v.author === undefined || v.author === null ? undefined : String(v.author),
      };
    }),
  };
}

// Refuses (TypeError) a class that could not answer every operation.
function check(cls) {
  if (!(cls.prototype instanceof BaseSecretsManager)) throw new TypeError('exportFlavor takes a BaseSecretsManager subclass');
  if (!cls.FLAVOR) throw new TypeError(`${cls.name}.FLAVOR is not set`);
  for (const c of cls.CAPABILITIES) {
    if (!KNOWN_CAPABILITIES.includes(c)) throw new TypeError(`${cls.name}.CAPABILITIES: unknown ${c}`);
  }
  const required = cls.NATIVE_HISTORY ? [...ZENML_METHODS, ...HISTORY_METHODS] : ZENML_METHODS;
  for (const op of required) {
    if (cls.prototype[op] === BaseSecretsManager.prototype[op]) {
      const why = HISTORY_METHODS.includes(op) ? ' (NATIVE_HISTORY is set)' : '';
      throw new TypeError(`${cls.name} does not implement ${op}${why}`);
    }
  }
  if (!cls.NATIVE_HISTORY && !cls.CAPABILITIES.includes('storage')) {
    throw new TypeError(`${cls.name} inherits the SDK's versions, soft delete and labels, which are kept in the `
      + "flavor's storage: add 'storage' to CAPABILITIES (or set NATIVE_HISTORY = true and implement every "
      + 'operation against the backend)');
  }
}

/** The `secretsManager` and `metadata` exports componentize-js calls, backed
 * by `cls` (a `BaseSecretsManager` subclass). */
export function exportFlavor(cls) {
  check(cls);
  const info = {
    name: cls.FLAVOR,
    version: cls.VERSION,
    description: cls.DESCRIPTION,
    config: cls.CONFIG.map((f) => ({ name: f.name, description: f.description || '', required: !!f.required, secret: !!f.secret })),
    capabilities: [...cls.CAPABILITIES],
  };
  const native = !!cls.NATIVE_HISTORY;
  const kept = () => new cls().keptHistory();
  const secretsManager = {
    registerSecret: (secret, labels) => answer('registerSecret', () => {
      const given = fromWit(secret);
      const tags = Object.fromEntries(labels);
      if (native) new cls().registerSecret(given, tags);
      else kept().register(given, tags);
    }),
    getSecret: (name, version) => answer('getSecret', () => {
      const wanted = optionalNumber(version);
      const found = native ? new cls().getSecret(name, wanted) : kept().get(name, wanted);
      return toWit(found, name, wanted);
    }),
    getAllSecretKeys: () => answer('getAllSecretKeys', () => new cls().getAllSecretKeys().map(String)),
    listSecrets: (includeDeleted) => answer('listSecrets', () => new cls().listSecrets(includeDeleted).map(metadataToWit)),
    getMetadata: (name) => answer('getMetadata', () => metadataToWit(new cls().getMetadata(name))),
    listVersions: (name) => answer('listVersions', () => historyToWit(new cls().listVersions(name))),
    updateSecret: (secret, expected) => answer('updateSecret', () => {
      const given = fromWit(secret);
      const wanted = optionalNumber(expected);
      const written = native ? new cls().updateSecret(given, wanted) : kept().update(given, wanted);
      if (!isVersion(written)) throw new BackendError('updateSecret returned no version number');
      return BigInt(written);
    }),
    deleteSecret: (name, purge) => answer('deleteSecret', () => {
      if (native) new cls().deleteSecret(name, purge);
      else kept().delete(name, purge);
    }),
    restoreSecret: (name) => answer('restoreSecret', () => { new cls().restoreSecret(name); }),
    destroyVersions: (name, versions) => answer('destroyVersions', () => {
      new cls().destroyVersions(name, Array.from(versions, Number));
    }),
    setLabels: (name, labels) => answer('setLabels', () => { new cls().setLabels(name, Object.fromEntries(labels)); }),
    deleteAllSecrets: (force) => answer('deleteAllSecrets', () => {
      if (native) new cls().deleteAllSecrets(force);
      else kept().deleteAll(force);
    }),
    validateConfig: (config) => answer('validateConfig', () => { new cls().validateConfig(Object.fromEntries(config)); }),
  };
  const metadata = { info: () => info };
  return { secretsManager, metadata };
}
