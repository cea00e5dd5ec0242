//! One Secrets Manager API call over the JSON 1.1 protocol: `POST /` with
//! `Content-Type: application/x-amz-json-1.1` and
//! `X-Amz-Target: secretsmanager.<Op>`, SigV4-signed (service
//! `secretsmanager`) at the wall-clock time, sent through `wasi:http`.
//!
//! Guards against: credentials or secret values in an error or log line
//! (every AWS message passes `redact` with the credentials and the call's
//! secret values; log lines carry only the operation, origin and status);
//! unbounded replies (`http::MAX_REPLY`); treating a non-JSON or
//! error-shaped reply as success.

use flavor_kit::errors::redact;
use flavor_kit::http;
use serde_json::Value;
use std::time::SystemTime;
use wasi_http_client::{Request, Url};

use crate::errors::{self, BACKEND};
use crate::settings::Settings;
use crate::{Error, codec};

const SERVICE: &str = "secretsmanager";
const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// A configured Secrets Manager client for one call of the flavor.
pub struct Client {
    pub settings: Settings,
}

impl Client {
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
        let response = http::send(op, &request, http::MAX_REPLY)?;
        if http::is_success(response.status) {
            return http::json_body(BACKEND, op, &response.body);
        }
        let sensitive = self.sensitive(values);
        match errors::parse_aws(&response.body, response.header("x-amzn-errortype")) {
            Some((kind, message)) => Err(errors::from_aws(&kind, redact(&message, &sensitive))),
            None => Err(errors::from_status(op, response.status, &url.origin())),
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
