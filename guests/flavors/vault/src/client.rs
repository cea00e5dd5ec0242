//! One Vault API call: `X-Vault-Token` (and `X-Vault-Namespace`) set, JSON
//! in and out, sent through `wasi:http`; and the token it carries.
//!
//! With AppRole the token comes from `auth/<mount>/login` and is cached in
//! this manager's storage until its lease ends, so a call usually costs one
//! request, not two. A cached token the server refuses (revoked, used up)
//! is dropped and replaced once.
//!
//! Guards against: credentials or secret values in an error or log line
//! (every Vault message passes `redact` with the token, the AppRole
//! credentials and the call's values; log lines carry only the method,
//! origin and status); unbounded replies (`MAX_REPLY`); one manager's
//! cached token serving another configuration (the cache key is a digest of
//! the address, namespace, mount and credentials); a stale cache entry
//! outliving its lease.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use wasi_http_client::{Request, Url};

use crate::flavorbox::secrets::log::{self, Level};
use crate::flavorbox::secrets::storage;
use crate::settings::{Auth, Settings};
use crate::{Error, errors};

/// Largest reply read, in bytes (a secret is at most 64 KiB; a listing of
/// 10,000 names of 128 bytes is under 2 MiB).
const MAX_REPLY: usize = 4 * 1024 * 1024;
/// A cached token is not used in the last quarter of its lease (at most
/// the last 30 seconds), so it cannot expire between being read and being
/// used.
const MAX_EXPIRY_MARGIN_SECS: u64 = 30;

/// A configured Vault client for one call of the flavor.
pub struct Client {
    pub settings: Settings,
}

/// A reply with a 2xx status: its JSON (`null` when empty).
pub struct Reply {
    pub body: Value,
}

/// A token and whether it came from the cache (and may be stale).
struct Token {
    value: String,
    cached: bool,
}

impl Client {
    pub fn from_config() -> Result<Client, Error> {
        Ok(Client {
            settings: Settings::load()?,
        })
    }

    /// `<url>/v1/<mount>/<kind>/<prefix>[/<name>]` for a KV version 2 call
    /// (`kind` is `data` or `metadata`).
    pub fn kv_url(&self, kind: &str, name: Option<&str>) -> Url {
        let s = &self.settings;
        let mut path = format!("v1/{}/{kind}/{}", s.mount, s.prefix);
        if let Some(name) = name {
            path.push('/');
            path.push_str(name);
        }
        s.url.join(&path)
    }

    /// Sends `method` to `url` with the manager's token and JSON `body`;
    /// `values` are secret values in the body, masked in any message.
    /// `op` names the call in messages. 404 is `not-found`, 403 `denied`.
    pub fn call(
        &self,
        op: &str,
        method: &str,
        url: &Url,
        body: Option<&Value>,
        values: &[&str],
    ) -> Result<Reply, Error> {
        let token = self.token()?;
        let response = self.send(op, method, url, body, Some(&token.value))?;
        if response.status == 403 && token.cached {
            // The cached token may have been revoked or used up: log in
            // again, once.
            self.forget_token();
            let fresh = self.login()?;
            let response = self.send(op, method, url, body, Some(&fresh))?;
            return self.reply(op, response, values, &[&token.value, &fresh]);
        }
        self.reply(op, response, values, &[&token.value])
    }

    fn send(
        &self,
        op: &str,
        method: &str,
        url: &Url,
        body: Option<&Value>,
        token: Option<&str>,
    ) -> Result<wasi_http_client::Response, Error> {
        let origin = url.origin();
        let payload = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if let Some(token) = token {
            headers.push(("x-vault-token", token));
        }
        if let Some(ns) = &self.settings.vault_namespace {
            headers.push(("x-vault-namespace", ns));
        }
        if body.is_some() {
            headers.push(("content-type", "application/json"));
        }
        let request = Request {
            method,
            url,
            headers: &headers,
            body: &payload,
        };
        let response = wasi_http_client::send(&request, MAX_REPLY)
            .map_err(|e| errors::from_transport(e, op, &origin))?;
        log::log(
            Level::Debug,
            &format!("{op}: {method} -> HTTP {} from {origin}", response.status),
        );
        Ok(response)
    }

    /// The JSON of a 2xx reply, or the error a non-2xx one means.
    fn reply(
        &self,
        op: &str,
        response: wasi_http_client::Response,
        values: &[&str],
        tokens: &[&str],
    ) -> Result<Reply, Error> {
        let status = response.status;
        if (200..300).contains(&status) {
            let body = if response.body.iter().all(u8::is_ascii_whitespace) {
                Value::Null
            } else {
                serde_json::from_slice(&response.body)
                    .map_err(|_| errors::malformed(op, "the reply is not JSON"))?
            };
            return Ok(Reply { body });
        }
        let mut sensitive = self.credentials();
        sensitive.extend_from_slice(tokens);
        sensitive.extend_from_slice(values);
        let message = errors::message(&response.body, &sensitive);
        Err(errors::from_status(op, status, &message))
    }

    /// The token to send: the configured one, or AppRole's (cached or
    /// fresh).
    fn token(&self) -> Result<Token, Error> {
        match &self.settings.auth {
            Auth::Token(token) => Ok(Token {
                value: token.clone(),
                cached: false,
            }),
            Auth::AppRole { .. } => match self.cached_token() {
                Some(value) => Ok(Token {
                    value,
                    cached: true,
                }),
                None => Ok(Token {
                    value: self.login()?,
                    cached: false,
                }),
            },
        }
    }

    /// Logs in with AppRole and caches the token until its lease ends.
    fn login(&self) -> Result<String, Error> {
        let Auth::AppRole {
            mount,
            role_id,
            secret_id,
        } = &self.settings.auth
        else {
            return Err(Error::Denied(
                "the configured Vault token was refused".into(),
            ));
        };
        let url = self.settings.url.join(&format!("v1/auth/{mount}/login"));
        let body = json!({ "role_id": role_id, "secret_id": secret_id });
        let response = self.send("AppRole login", "POST", &url, Some(&body), None)?;
        let reply = match self.reply("AppRole login", response, &[], &[]) {
            Ok(reply) => reply,
            // Vault answers a wrong role or secret id with 400.
            Err(Error::Invalid(m) | Error::Backend(m)) if m.contains("HTTP 400") => {
                return Err(Error::Denied(m));
            }
            Err(e) => return Err(e),
        };
        let auth = &reply.body["auth"];
        let token = auth["client_token"]
            .as_str()
            .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or_else(|| errors::malformed("AppRole login", "no usable client_token"))?
            .to_string();
        // A lease of 0 never ends; such a token is still dropped as soon as
        // the server refuses it.
        let use_until = match auth["lease_duration"].as_u64() {
            Some(0) | None => None,
            Some(secs) => Some(now().saturating_add(secs - (secs / 4).min(MAX_EXPIRY_MARGIN_SECS))),
        };
        let entry = json!({ "token": token, "use_until": use_until });
        // Caching is an optimisation: a refused write (quota) costs a login
        // per call, not the call.
        if let Err(e) = storage::set(&self.cache_key(), entry.to_string().as_bytes()) {
            log::log(
                Level::Warn,
                &format!("the AppRole token was not cached: {}", errors::describe(&e)),
            );
        }
        Ok(token)
    }

    fn cached_token(&self) -> Option<String> {
        let bytes = storage::get(&self.cache_key()).ok()??;
        let entry: Value = serde_json::from_slice(&bytes).ok()?;
        let fresh = match entry["use_until"].as_u64() {
            Some(until) => now() < until,
            None => entry["use_until"].is_null(),
        };
        let token = entry["token"].as_str()?;
        (fresh && !token.is_empty()).then(|| token.to_string())
    }

    fn forget_token(&self) {
        let _ = storage::delete(&self.cache_key());
    }

    /// The storage key of this configuration's cached AppRole token.
    fn cache_key(&self) -> String {
        let s = &self.settings;
        let mut hasher = Sha256::new();
        for part in [
            s.url.origin().as_str(),
            s.url.path.as_str(),
            s.vault_namespace.as_deref().unwrap_or(""),
        ] {
            hasher.update(part.as_bytes());
            hasher.update([0]);
        }
        if let Auth::AppRole {
            mount,
            role_id,
            secret_id,
        } = &s.auth
        {
            for part in [mount, role_id, secret_id] {
                hasher.update(part.as_bytes());
                hasher.update([0]);
            }
        }
        let digest = hasher.finalize();
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        format!("vault/token/{hex}")
    }

    /// Strings that must never appear in a message: the credentials.
    fn credentials(&self) -> Vec<&str> {
        match &self.settings.auth {
            Auth::Token(token) => vec![token.as_str()],
            Auth::AppRole {
                role_id, secret_id, ..
            } => vec![role_id.as_str(), secret_id.as_str()],
        }
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
