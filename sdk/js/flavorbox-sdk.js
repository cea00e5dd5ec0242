// flavorbox's JavaScript SDK: write a secrets-manager flavor the way ZenML
// users do, as a class extending `BaseSecretsManager`, and build it into a
// WebAssembly component with componentize-js (`flavorbox flavor build`).
//
//     import { BaseSecretsManager, Secret, SecretExistsError, exportFlavor }
//       from './flavorbox-sdk.js';
//     class MyVault extends BaseSecretsManager { static FLAVOR = 'myvault'; ... }
//     const flavor = exportFlavor(MyVault);
//     export const secretsManager = flavor.secretsManager;
//     export const metadata = flavor.metadata;
//
// Every operation runs in a fresh instance of the component: nothing kept
// on `this` or in module state survives it; keep state in `this.storage`
// (or a backend). Exceptions become the WIT `error` variant they name
// (below); any other exception is logged with its stack and answered as
// `backend`, so a bug in a flavor is a failed operation, never a crash.
// HTTP goes through `wasi:http` synchronously (`http` below): `fetch` needs
// an event loop that a synchronous operation never runs.

import * as hostStorage from 'flavorbox:secrets/storage@0.1.0';
import * as hostConfig from 'flavorbox:secrets/config@0.1.0';
import { log as hostLog } from 'flavorbox:secrets/log@0.1.0';
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

// ---- the flavor -------------------------------------------------------------

/** A secret: a name, the schema its values were checked against, and its
 * key-values (`values`, a plain object; `content` is ZenML's name). */
export class Secret {
  constructor(name, schema = 'arbitrary', values = {}) {
    this.name = name;
    this.schema = schema;
    this.values = { ...values };
  }
  get content() { return this.values; }
  toJSON() {
    // Never the values: this can end up in a log line.
    return { name: this.name, schema: this.schema, keys: Object.keys(this.values).sort() };
  }
}

/** One config key the flavor takes; a `secret` one is never printed. */
export function configField(name, description = '', { required = false, secret = false } = {}) {
  return { name, description, required, secret };
}

export class BaseSecretsManager {
  /** The flavor's name. */
  static FLAVOR = '';
  static VERSION = '0.1.0';
  static DESCRIPTION = '';
  /** What the operator must grant: 'storage', 'http'. */
  static CAPABILITIES = [];
  /** Config keys, made with `configField`. */
  static CONFIG = [];

  get storage() { return storage; }
  get config() { return config; }
  get log() { return log; }
  get http() { return http; }

  registerSecret(secret) { throw new Error('registerSecret is not implemented'); }
  getSecret(secretName) { throw new Error('getSecret is not implemented'); }
  getAllSecretKeys() { throw new Error('getAllSecretKeys is not implemented'); }
  updateSecret(secret) { throw new Error('updateSecret is not implemented'); }
  deleteSecret(secretName) { throw new Error('deleteSecret is not implemented'); }
  deleteAllSecrets(force = false) { throw new Error('deleteAllSecrets is not implemented'); }
}

const OPERATIONS = ['registerSecret', 'getSecret', 'getAllSecretKeys', 'updateSecret', 'deleteSecret', 'deleteAllSecrets'];
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

function toWit(secret) {
  if (!(secret instanceof Secret)) throw new BackendError('getSecret must return a Secret');
  const values = Object.entries(secret.values).map(([k, v]) => {
    if (typeof v !== 'string') throw new BackendError(`secret \`${secret.name}\`: values must be strings`);
    return [k, v];
  });
  return { name: secret.name, schema: secret.schema, values };
}

const fromWit = (secret) => new Secret(secret.name, secret.schema, Object.fromEntries(secret.values));

/** The `secretsManager` and `metadata` exports componentize-js calls, backed
 * by `cls` (a `BaseSecretsManager` subclass). */
export function exportFlavor(cls) {
  if (!(cls.prototype instanceof BaseSecretsManager)) throw new TypeError('exportFlavor takes a BaseSecretsManager subclass');
  if (!cls.FLAVOR) throw new TypeError(`${cls.name}.FLAVOR is not set`);
  for (const c of cls.CAPABILITIES) {
    if (!KNOWN_CAPABILITIES.includes(c)) throw new TypeError(`${cls.name}.CAPABILITIES: unknown ${c}`);
  }
  for (const op of OPERATIONS) {
    if (cls.prototype[op] === BaseSecretsManager.prototype[op]) throw new TypeError(`${cls.name} does not implement ${op}`);
  }
  const info = {
    name: cls.FLAVOR,
    version: cls.VERSION,
    description: cls.DESCRIPTION,
    config: cls.CONFIG.map((f) => ({ name: f.name, description: f.description || '', required: !!f.required, secret: !!f.secret })),
    capabilities: [...cls.CAPABILITIES],
  };
  const secretsManager = {
    registerSecret: (secret) => answer('registerSecret', () => { new cls().registerSecret(fromWit(secret)); }),
    getSecret: (name) => answer('getSecret', () => toWit(new cls().getSecret(name))),
    getAllSecretKeys: () => answer('getAllSecretKeys', () => new cls().getAllSecretKeys().map(String)),
    updateSecret: (secret) => answer('updateSecret', () => { new cls().updateSecret(fromWit(secret)); }),
    deleteSecret: (name) => answer('deleteSecret', () => { new cls().deleteSecret(name); }),
    deleteAllSecrets: (force) => answer('deleteAllSecrets', () => { new cls().deleteAllSecrets(force); }),
  };
  const metadata = { info: () => info };
  return { secretsManager, metadata };
}
