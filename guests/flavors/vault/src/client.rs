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
//! origin and status); unbounded replies (`flavor_kit::http`); one
//! manager's cached token serving another configuration (the cache key is a
//! digest of the address, namespace, mount and credentials); a stale cache
//! entry outliving its lease (`flavor_kit::tokens`).

use flavor_kit::http::{self, Call};
use flavor_kit::tokens::{self, Token, TokenCache};
use serde_json::{Value, json};
use wasi_http_client::{Response, Url};

use crate::Error;
use crate::errors::{self, BACKEND};
use crate::settings::{Auth, Settings};

/// A cached token is not used in the last quarter of its lease (at most
/// the last 30 seconds), so it cannot expire between being read and being
/// used.
const MAX_EXPIRY_MARGIN_SECS: u64 = 30;

/// A configured Vault client for one call of the flavor.
pub struct Client {
    pub settings: Settings,
}

impl Client {
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

    /// Makes `call` with the manager's token; returns the JSON of a 2xx
    /// reply (`null` when empty). 404 is `not-found`, 403 `denied`.
    pub fn call(&self, call: Call) -> Result<Value, Error> {
        let (response, sent) = tokens::send_renewing(
            self.token()?,
            403,
            |token| self.send(&call, Some(token)),
            // The cached token may have been revoked or used up: log in
            // again, once.
            || {
                self.cache().forget();
                self.login()
            },
        )?;
        self.reply(&call, response, &sent)
    }

    fn send(&self, call: &Call, token: Option<&str>) -> Result<Response, Error> {
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if let Some(token) = token {
            headers.push(("x-vault-token", token));
        }
        if let Some(ns) = &self.settings.vault_namespace {
            headers.push(("x-vault-namespace", ns));
        }
        call.send(&headers)
    }

    /// The JSON of a 2xx reply, or the error a non-2xx one means;
    /// `tokens` were sent with the call.
    fn reply(&self, call: &Call, response: Response, tokens: &[String]) -> Result<Value, Error> {
        if http::is_success(response.status) {
            return http::json_body(BACKEND, call.op, &response.body);
        }
        let mut sensitive = self.credentials();
        sensitive.extend(tokens.iter().map(String::as_str));
        sensitive.extend_from_slice(call.values);
        let message = errors::message(&response.body, &sensitive);
        Err(errors::from_status(call.op, response.status, &message))
    }

    /// The token to send: the configured one, or AppRole's (cached or
    /// fresh).
    fn token(&self) -> Result<Token, Error> {
        match &self.settings.auth {
            Auth::Token(token) => Ok(Token {
                value: token.clone(),
                cached: false,
            }),
            Auth::AppRole { .. } => match self.cache().get() {
                Some(token) => Ok(token),
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
        let login = Call::post("AppRole login", &url, &body);
        let response = self.send(&login, None)?;
        let reply = match self.reply(&login, response, &[]) {
            Ok(reply) => reply,
            // Vault answers a wrong role or secret id with 400.
            Err(Error::Invalid(m) | Error::Backend(m)) if m.contains("HTTP 400") => {
                return Err(Error::Denied(m));
            }
            Err(e) => return Err(e),
        };
        let auth = &reply["auth"];
        let token = auth["client_token"]
            .as_str()
            .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or_else(|| errors::malformed("AppRole login", "no usable client_token"))?
            .to_string();
        // A lease of 0 never ends; such a token is still dropped as soon as
        // the server refuses it.
        let use_until = match auth["lease_duration"].as_u64() {
            Some(0) | None => None,
            Some(secs) => Some(tokens::use_until(
                tokens::now(),
                secs,
                MAX_EXPIRY_MARGIN_SECS,
            )),
        };
        self.cache().put("AppRole token", &token, use_until);
        Ok(token)
    }

    /// Where this configuration's AppRole token is cached.
    fn cache(&self) -> TokenCache {
        let s = &self.settings;
        let origin = s.url.origin();
        let mut parts = vec![
            origin.as_str(),
            s.url.path.as_str(),
            s.vault_namespace.as_deref().unwrap_or(""),
        ];
        if let Auth::AppRole {
            mount,
            role_id,
            secret_id,
        } = &s.auth
        {
            parts.extend([mount.as_str(), role_id.as_str(), secret_id.as_str()]);
        }
        TokenCache::new("vault/token", &parts)
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
