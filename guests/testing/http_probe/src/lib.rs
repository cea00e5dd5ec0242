//! Test flavor `http_probe`: probes the host's `wasi:http` gate and reports
//! what it saw as the values of a secret, so tests can assert on the host's
//! policy (allow-list, address checks, size caps, request counts) from the
//! outside.
//!
//! `get-secret(name)` performs `GET <url>/<name>` and returns secret `<name>`
//! (schema `arbitrary`) with `status` (the HTTP status, or `error`), `error`
//! (the `wasi:http` error code's Debug form, or `none`), `body_len` and
//! `body` (the first 200 bytes, lossy UTF-8, `-` when empty). Two names are
//! special: `post` POSTs 2 MiB of zeros to `<url>/post` (request-size cap),
//! and `many` does 40 sequential GETs of `<url>/ok` and adds `count`, the
//! number that got a response (per-call request cap).
//!
//! Guards against: a probe that cannot report a refusal — every failure is
//! turned into values rather than an error, so the test sees the exact code.
//! It is read-only: register/update/delete refuse with `invalid`.

use wasi_http_client::{Request, Url};

wit_bindgen::generate!({
    path: "../../../wit/0.1",
    world: "flavor",
});

use exports::flavorbox::secrets::{metadata, secrets_manager};
use flavorbox::secrets::config;
use flavorbox::secrets::types::{ConfigField, Error, FlavorInfo, Secret};

/// Response bytes read per request; beyond it the probe reports an error.
const MAX_BODY: usize = 8 * 1024 * 1024;
/// Bytes of the body echoed back.
const BODY_PREVIEW: usize = 200;
/// The `post` probe's request body size.
const POST_SIZE: usize = 2 * 1024 * 1024;
/// The `many` probe's request count.
const MANY: usize = 40;

struct HttpProbe;

/// What one request came to.
struct Outcome {
    status: String,
    error: String,
    body: Vec<u8>,
}

fn base_url() -> Result<Url, Error> {
    let text =
        config::get("url").ok_or_else(|| Error::Invalid("config `url` is required".into()))?;
    Url::parse(&text).map_err(|why| Error::Invalid(format!("config `url` is unusable: {why}")))
}

fn probe(method: &str, url: &Url, body: &[u8]) -> Outcome {
    let request = Request {
        method,
        url,
        headers: &[],
        body,
    };
    match wasi_http_client::send(&request, MAX_BODY) {
        Ok(response) => Outcome {
            status: response.status.to_string(),
            error: "none".into(),
            body: response.body,
        },
        Err(wasi_http_client::Error::Http(code)) => Outcome {
            status: "error".into(),
            error: format!("{code:?}"),
            body: Vec::new(),
        },
        Err(other) => Outcome {
            status: "error".into(),
            error: other.to_string(),
            body: Vec::new(),
        },
    }
}

fn read_only() -> Error {
    Error::Invalid("http_probe is read-only".into())
}

impl secrets_manager::Guest for HttpProbe {
    fn register_secret(_: Secret) -> Result<(), Error> {
        Err(read_only())
    }

    fn get_secret(name: String) -> Result<Secret, Error> {
        let base = base_url()?;
        let mut extra = Vec::new();
        let outcome = match name.as_str() {
            "post" => probe("POST", &base.join("post"), &vec![0u8; POST_SIZE]),
            "many" => {
                let url = base.join("ok");
                let mut count = 0;
                let mut last = None;
                for _ in 0..MANY {
                    let outcome = probe("GET", &url, &[]);
                    if outcome.status != "error" {
                        count += 1;
                    }
                    last = Some(outcome);
                }
                extra.push(("count".to_string(), count.to_string()));
                last.expect("MANY is not zero")
            }
            _ => probe("GET", &base.join(&name), &[]),
        };
        let preview = &outcome.body[..outcome.body.len().min(BODY_PREVIEW)];
        let body = match String::from_utf8_lossy(preview) {
            text if text.is_empty() => "-".to_string(),
            text => text.into_owned(),
        };
        let mut values = vec![
            ("status".to_string(), outcome.status),
            ("error".to_string(), outcome.error),
            ("body_len".to_string(), outcome.body.len().to_string()),
            ("body".to_string(), body),
        ];
        values.extend(extra);
        Ok(Secret {
            name,
            schema: "arbitrary".to_string(),
            values,
        })
    }

    fn get_all_secret_keys() -> Result<Vec<String>, Error> {
        Ok(Vec::new())
    }

    fn update_secret(_: Secret) -> Result<(), Error> {
        Err(read_only())
    }

    fn delete_secret(_: String) -> Result<(), Error> {
        Err(read_only())
    }

    fn delete_all_secrets(force: bool) -> Result<(), Error> {
        if force {
            Ok(())
        } else {
            Err(Error::Invalid(
                "deleting all secrets needs force = true".into(),
            ))
        }
    }
}

impl metadata::Guest for HttpProbe {
    fn info() -> FlavorInfo {
        FlavorInfo {
            name: "http_probe".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            description: "Test flavor: GETs <url>/<name> through wasi:http and reports \
                          the status, error code and body as the secret's values."
                .to_string(),
            config: vec![ConfigField {
                name: "url".to_string(),
                description: "base URL the probes go to".to_string(),
                required: true,
                secret: false,
            }],
            capabilities: vec!["http".to_string()],
        }
    }
}

export!(HttpProbe);
