//! One Secret Manager API call: `Authorization: Bearer <token>`, JSON in
//! and out, sent through `wasi:http`. The token is got once per flavor call
//! (see `auth.rs`); a cached token the API refuses with 401 (revoked, or
//! expired early) is dropped and replaced once.
//!
//! Guards against: credentials or secret values in an error or log line
//! (every Google message passes `redact` with the token, the private key and
//! the call's values; log lines carry only the operation, origin and
//! status); unbounded replies (`MAX_REPLY`); treating a non-JSON reply as
//! success.

use std::cell::RefCell;

use serde_json::Value;
use wasi_http_client::{Request, Url};

use crate::auth::{self, Token};
use crate::flavorbox::secrets::log::{self, Level};
use crate::settings::{Credentials, Settings};
use crate::{Error, errors};

/// Largest reply read, in bytes (a payload is at most 64 KiB, base64 in
/// JSON; a page of 250 secrets with their labels and annotations is well
/// under this).
const MAX_REPLY: usize = 4 * 1024 * 1024;

/// A configured Secret Manager client for one call of the flavor.
pub struct Client {
    pub settings: Settings,
    token: RefCell<Option<String>>,
}

impl Client {
    pub fn from_config() -> Result<Client, Error> {
        Ok(Client {
            settings: Settings::load()?,
            token: RefCell::new(None),
        })
    }

    /// `<endpoint>/v1/projects/<project>/secrets[/<id>]`.
    pub fn secrets_url(&self, id: Option<&str>) -> Url {
        let mut path = format!("v1/projects/{}/secrets", self.settings.project_id);
        if let Some(id) = id {
            path.push('/');
            path.push_str(id);
        }
        self.settings.endpoint.join(&path)
    }

    /// Sends `method` to `url` with JSON `body`; `values` are secret values
    /// in the body, masked in any message. `op` names the call in messages.
    /// Returns the reply's JSON (`{}` for an empty reply).
    pub fn call(
        &self,
        op: &str,
        method: &str,
        url: &Url,
        body: Option<&Value>,
        values: &[&str],
    ) -> Result<Value, Error> {
        let token = self.token()?;
        let response = self.send(op, method, url, body, &token.value)?;
        if response.status == 401
            && token.cached
            && let Credentials::ServiceAccount(account) = &self.settings.credentials
        {
            // The cached token was revoked or expired early: make a new one,
            // once.
            auth::forget(account);
            let fresh = auth::exchange(account)?;
            self.token.replace(Some(fresh.value.clone()));
            let response = self.send(op, method, url, body, &fresh.value)?;
            return self.reply(op, response, values, &[&token.value, &fresh.value]);
        }
        self.reply(op, response, values, &[&token.value])
    }

    fn send(
        &self,
        op: &str,
        method: &str,
        url: &Url,
        body: Option<&Value>,
        token: &str,
    ) -> Result<wasi_http_client::Response, Error> {
        let origin = url.origin();
        let payload = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let authorization = format!("Bearer {token}");
        let mut headers = vec![("authorization", authorization.as_str())];
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

    fn reply(
        &self,
        op: &str,
        response: wasi_http_client::Response,
        values: &[&str],
        tokens: &[&str],
    ) -> Result<Value, Error> {
        if (200..300).contains(&response.status) {
            if response.body.iter().all(u8::is_ascii_whitespace) {
                return Ok(Value::Object(Default::default()));
            }
            return serde_json::from_slice(&response.body)
                .map_err(|_| errors::malformed(op, "the reply is not JSON"));
        }
        let mut sensitive: Vec<&str> = tokens.to_vec();
        match &self.settings.credentials {
            Credentials::AccessToken(token) => sensitive.push(token),
            Credentials::ServiceAccount(account) => sensitive.push(&account.private_key),
        }
        sensitive.extend_from_slice(values);
        Err(errors::from_google(
            op,
            response.status,
            &response.body,
            &sensitive,
        ))
    }

    /// The token for this call: the configured one, or the service
    /// account's (this call's, the cached one, or a fresh one).
    fn token(&self) -> Result<Token, Error> {
        let account = match &self.settings.credentials {
            Credentials::AccessToken(token) => {
                return Ok(Token {
                    value: token.clone(),
                    cached: false,
                });
            }
            Credentials::ServiceAccount(account) => account,
        };
        if let Some(value) = self.token.borrow().clone() {
            return Ok(Token {
                value,
                cached: false,
            });
        }
        let token = match auth::cached(account) {
            Some(token) => token,
            None => auth::exchange(account)?,
        };
        self.token.replace(Some(token.value.clone()));
        Ok(token)
    }
}
