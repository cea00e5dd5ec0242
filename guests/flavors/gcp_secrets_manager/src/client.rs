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

/// What a call that may be refused for a reason its caller handles came to.
pub enum Outcome {
    /// The JSON of the 2xx reply.
    Done(Value),
    /// Refused with one of the statuses the caller named; the error says so.
    Refused(Error),
}

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
        match self.call_unless(call, &[])? {
            Outcome::Done(reply) => Ok(reply),
            Outcome::Refused(e) => Err(e),
        }
    }

    /// Makes `call` as [`Client::call`] does, but a refusal with one of
    /// Google's `statuses` (e.g. `ABORTED` for a stale etag) is
    /// [`Outcome::Refused`], for the caller to decide on.
    pub fn call_unless(&self, call: Call, statuses: &[&str]) -> Result<Outcome, Error> {
        let (response, sent) = tokens::send_renewing(
            self.token()?,
            401,
            |token| call.send(&[("authorization", &format!("Bearer {token}"))]),
            // The cached token was revoked or expired early: make a new
            // one, once.
            || self.renew(),
        )?;
        if http::is_success(response.status) {
            return http::json_body(BACKEND, call.op, &response.body).map(Outcome::Done);
        }
        let mut sensitive: Vec<&str> = sent.iter().map(String::as_str).collect();
        sensitive.push(match &self.settings.credentials {
            Credentials::AccessToken(token) => token,
            Credentials::ServiceAccount(account) => &account.private_key,
        });
        sensitive.extend_from_slice(call.values);
        let (status, body) = (response.status, &response.body);
        let error = errors::from_google(call.op, status, body, &sensitive);
        if statuses.contains(&errors::google_status(body).as_str()) {
            return Ok(Outcome::Refused(error));
        }
        Err(error)
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
