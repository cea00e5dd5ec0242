//! One Secrets Manager API call over the JSON 1.1 protocol: `POST /` with
//! `Content-Type: application/x-amz-json-1.1` and
//! `X-Amz-Target: secretsmanager.<Op>`, SigV4-signed (service
//! `secretsmanager`) at the wall-clock time, sent through `wasi:http`.
//!
//! Guards against: credentials or secret values in an error or log line
//! (every AWS message passes `errors::redact` with the credentials and the
//! call's secret values; log lines carry only the operation, origin and
//! status); unbounded replies (`MAX_REPLY`); treating a non-JSON or
//! error-shaped reply as success.

use serde_json::Value;
use std::time::SystemTime;
use wasi_http_client::{Request, Url};

use crate::flavorbox::secrets::log::{self, Level};
use crate::settings::Settings;
use crate::{Error, codec, errors};

/// Largest reply read, in bytes (a secret is at most 64 KiB; a page of 100
/// `ListSecrets` entries is far below this).
const MAX_REPLY: usize = 4 * 1024 * 1024;
const SERVICE: &str = "secretsmanager";
const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// A configured Secrets Manager client for one call of the flavor.
pub struct Client {
    settings: Settings,
}

impl Client {
    pub fn from_config() -> Result<Client, Error> {
        Ok(Client {
            settings: Settings::load()?,
        })
    }

    /// The AWS name of flavorbox secret `name` in this namespace.
    pub fn aws_name(&self, name: &str) -> Result<String, Error> {
        codec::aws_name(self.settings.namespace.as_deref(), name)
    }

    /// The flavorbox name of `aws_name`, if it is one of this namespace's.
    pub fn flavorbox_name(&self, aws_name: &str) -> Option<String> {
        codec::flavorbox_name(self.settings.namespace.as_deref(), aws_name)
    }

    /// The `ListSecrets` name filter (a prefix) for this namespace.
    pub fn list_prefix(&self) -> Option<String> {
        self.settings.namespace.as_ref().map(|ns| format!("{ns}/"))
    }

    /// Calls operation `op` with JSON `body`; `values` are the secret values
    /// in the body, masked in any message. Returns the reply's JSON (`null`
    /// for an empty reply).
    pub fn call(&self, op: &str, body: &Value, values: &[&str]) -> Result<Value, Error> {
        let url: &Url = &self.settings.endpoint;
        let origin = url.origin();
        let payload = body.to_string().into_bytes();
        let target = format!("secretsmanager.{op}");
        let headers = [
            ("content-type", CONTENT_TYPE),
            ("x-amz-target", target.as_str()),
        ];

        let signed = sigv4::sign(
            &sigv4::Request {
                method: "POST",
                host: &url.authority,
                path: &url.path,
                query: &[],
                headers: &headers,
                payload: &payload,
            },
            sigv4::Scope {
                region: &self.settings.region,
                service: SERVICE,
            },
            &self.settings.credentials,
            sigv4::SigningTime::from_system_time(SystemTime::now()),
        );
        let auth_headers = signed.headers();
        let mut all_headers: Vec<(&str, &str)> = headers.to_vec();
        all_headers.extend(auth_headers.iter().map(|(n, v)| (*n, v.as_str())));

        let request = Request {
            method: "POST",
            url,
            headers: &all_headers,
            body: &payload,
        };
        let response = wasi_http_client::send(&request, MAX_REPLY)
            .map_err(|e| errors::from_transport(e, op, &origin))?;
        log_debug(&format!("{op} -> HTTP {} from {origin}", response.status));

        if (200..300).contains(&response.status) {
            if response.body.iter().all(u8::is_ascii_whitespace) {
                return Ok(Value::Null);
            }
            return serde_json::from_slice(&response.body)
                .map_err(|_| errors::malformed(op, "the reply is not JSON"));
        }
        let sensitive = self.sensitive(values);
        match errors::parse_aws(&response.body, response.header("x-amzn-errortype")) {
            Some((kind, message)) => Err(errors::from_aws(
                &kind,
                errors::redact(&message, &sensitive),
            )),
            None if matches!(response.status, 401 | 403) => Err(Error::Denied(format!(
                "{op} refused: HTTP {} from {origin}",
                response.status
            ))),
            None => Err(Error::Backend(format!(
                "{op} failed: HTTP {} from {origin}",
                response.status
            ))),
        }
    }

    /// Strings that must never appear in a message: the credentials and
    /// the call's secret values.
    fn sensitive<'a>(&'a self, values: &[&'a str]) -> Vec<&'a str> {
        let credentials = &self.settings.credentials;
        let mut sensitive = vec![
            credentials.access_key_id.as_str(),
            credentials.secret_access_key.as_str(),
        ];
        sensitive.extend(credentials.session_token.as_deref());
        sensitive.extend_from_slice(values);
        sensitive
    }
}

fn log_debug(message: &str) {
    log::log(Level::Debug, message);
}

pub fn log_warn(message: &str) {
    log::log(Level::Warn, message);
}
