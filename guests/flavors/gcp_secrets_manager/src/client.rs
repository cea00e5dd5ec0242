//! One Secret Manager API call: `Authorization: Bearer <token>`, JSON in
//! and out, sent through `wasi:http`. The token is got once per flavor call
//! (see `auth.rs`); a cached token the API refuses with 401 (revoked, or
//! expired early) is dropped and replaced once.
//!
//! Guards against: credentials or secret values in an error or log line
//! (every Google message passes `redact` with the token, the private key and
//! the call's values; log lines carry only the operation, origin and
//! status); unbounded replies and treating a non-JSON reply as success
//! (both `flavor_kit::http`).

use std::cell::RefCell;

use flavor_kit::http::{self, Call};
use flavor_kit::tokens::{self, Token};
use serde_json::Value;
use wasi_http_client::Url;

use crate::Error;
use crate::auth;
use crate::errors::{self, BACKEND};
use crate::settings::{Credentials, Settings};

/// A configured Secret Manager client for one call of the flavor.
pub struct Client {
    pub settings: Settings,
    token: RefCell<Option<String>>,
}

impl Client {
    pub fn load() -> Result<Client, Error> {
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

    /// Makes `call` with the token; returns the JSON of a 2xx reply (`null`
    /// when empty).
    pub fn call(&self, call: Call) -> Result<Value, Error> {
        let (response, sent) = tokens::send_renewing(
            self.token()?,
            401,
            |token| call.send(&[("authorization", &format!("Bearer {token}"))]),
            // The cached token was revoked or expired early: make a new
            // one, once.
            || self.renew(),
        )?;
        if http::is_success(response.status) {
            return http::json_body(BACKEND, call.op, &response.body);
        }
        let mut sensitive: Vec<&str> = sent.iter().map(String::as_str).collect();
        sensitive.push(match &self.settings.credentials {
            Credentials::AccessToken(token) => token,
            Credentials::ServiceAccount(account) => &account.private_key,
        });
        sensitive.extend_from_slice(call.values);
        let (status, body) = (response.status, &response.body);
        Err(errors::from_google(call.op, status, body, &sensitive))
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

    /// A fresh token for the service account, in place of the refused
    /// cached one (only a service account's token is ever cached).
    fn renew(&self) -> Result<String, Error> {
        let Credentials::ServiceAccount(account) = &self.settings.credentials else {
            return Err(Error::Denied(
                "the configured access token was refused".into(),
            ));
        };
        auth::forget(account);
        let fresh = auth::exchange(account)?;
        self.token.replace(Some(fresh.value.clone()));
        Ok(fresh.value)
    }
}
