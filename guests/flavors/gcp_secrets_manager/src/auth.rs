//! The access token a call sends: a ready `access_token` from the config, or
//! one made from a service-account key: an RS256-signed JWT (claims `iss`
//! the account, `scope` cloud-platform, `aud` the key's `token_uri`, `iat`,
//! `exp` an hour later), exchanged at `token_uri` with the OAuth 2.0
//! JWT-bearer grant. That token is cached in this manager's storage until
//! shortly before it expires, so a call usually costs one request, not two.
//!
//! Guards against: the private key or a token in a message or log line
//! (they are masked, and only the endpoint's origin is ever named); one
//! configuration's cached token serving another (the cache key is a digest
//! of the account, its key and the token endpoint) and a token used in its
//! last minutes (both `flavor_kit::tokens`); RSA timing leaks (signing is
//! blinded, with randomness from `wasi:random`).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use flavor_kit::errors::redact;
use flavor_kit::http;
use flavor_kit::tokens::{self, Token, TokenCache, now};
use rsa::PrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{RandomizedSigner, SignatureEncoding};
use serde_json::{Value, json};
use sha2::Sha256;
use wasi_http_client::{Request, Url, percent_encode};

use crate::Error;
use crate::settings::ServiceAccount;

/// The scope every Secret Manager call needs.
pub const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Lifetime asked for in the JWT (Google's maximum).
const JWT_LIFETIME_SECS: u64 = 3600;
/// A cached token is not used in the last quarter of its life, at most the
/// last five minutes.
const MAX_MARGIN_SECS: u64 = 300;
/// Largest token reply read.
const MAX_REPLY: usize = 64 * 1024;

/// Checks that `pem` is a PKCS#8 PEM document holding an RSA private key
/// (its structure only: the arithmetic of building the signing key is left
/// to the calls that sign, so every other call stays cheap); the reason,
/// if not.
pub fn check_private_key(pem: &str) -> Result<(), &'static str> {
    use rsa::pkcs1::der::{Decode, SecretDocument};
    const NOT_RSA: &str = "that is not an RSA key in PKCS#8 PEM";
    let (label, document) = SecretDocument::from_pem(pem).map_err(|_| NOT_RSA)?;
    if label != "PRIVATE KEY" {
        return Err(NOT_RSA);
    }
    let info = rsa::pkcs8::PrivateKeyInfoRef::from_der(document.as_bytes()).map_err(|_| NOT_RSA)?;
    if info.algorithm.oid != rsa::pkcs1::ALGORITHM_OID {
        return Err(NOT_RSA);
    }
    rsa::pkcs1::RsaPrivateKeyRef::from_der(info.private_key.as_bytes()).map_err(|_| NOT_RSA)?;
    Ok(())
}

/// The cached token of `account`, if it is still fresh.
pub fn cached(account: &ServiceAccount) -> Option<Token> {
    cache(account).get()
}

/// Drops the cached token of `account` (the API refused it).
pub fn forget(account: &ServiceAccount) {
    cache(account).forget();
}

/// A fresh token for `account` from its token endpoint, cached.
pub fn exchange(account: &ServiceAccount) -> Result<Token, Error> {
    let assertion = jwt(account, now())?;
    let body = format!(
        "grant_type={}&assertion={assertion}",
        percent_encode(JWT_BEARER)
    );
    let url = &account.token_uri;
    let origin = url.origin();
    let headers = [("content-type", "application/x-www-form-urlencoded")];
    let request = Request {
        method: "POST",
        url,
        headers: &headers,
        body: body.as_bytes(),
    };
    let response = http::send("the token exchange", &request, MAX_REPLY)?;
    let reply: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    let sensitive = [assertion.as_str(), account.private_key.as_str()];
    if !http::is_success(response.status) {
        let error = reply["error"].as_str().unwrap_or("");
        let description = reply["error_description"].as_str().unwrap_or("");
        let text = redact(&format!("{error}: {description}"), &sensitive);
        let message = format!(
            "the token endpoint {origin} refused the service-account key: HTTP {} {text}",
            response.status
        );
        return Err(if response.status >= 500 {
            Error::Backend(message)
        } else {
            Error::Denied(message)
        });
    }
    let token = reply["access_token"]
        .as_str()
        .filter(|t| !t.is_empty() && t.len() <= 8192 && t.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            Error::Backend(format!(
                "unexpected reply from the token endpoint {origin}: no usable access_token"
            ))
        })?
        .to_string();
    let lifetime = reply["expires_in"].as_u64().unwrap_or(0);
    if lifetime > 0 {
        let use_until = tokens::use_until(now(), lifetime, MAX_MARGIN_SECS);
        cache(account).put("access token", &token, Some(use_until));
    }
    Ok(Token {
        value: token,
        cached: false,
    })
}

/// The signed JWT asking `account`'s token endpoint for a cloud-platform
/// token, issued at `now`.
pub fn jwt(account: &ServiceAccount, now: u64) -> Result<String, Error> {
    let mut header = json!({ "alg": "RS256", "typ": "JWT" });
    if let Some(kid) = &account.private_key_id {
        header["kid"] = json!(kid);
    }
    let claims = claims(account, now);
    let input = format!(
        "{}.{}",
        B64URL.encode(header.to_string()),
        B64URL.encode(claims.to_string())
    );
    let key = PrivateKey::from_pkcs8_pem(&account.private_key).map_err(|_| {
        Error::Invalid("config `credentials` has a `private_key` that does not decode".into())
    })?;
    let signature = SigningKey::<Sha256>::new(key).sign_with_rng(&mut WasiRng, input.as_bytes());
    Ok(format!("{input}.{}", B64URL.encode(signature.to_bytes())))
}

/// The JWT claims for `account` at `now`.
pub fn claims(account: &ServiceAccount, now: u64) -> Value {
    json!({
        "iss": account.client_email,
        "scope": CLOUD_PLATFORM,
        "aud": audience(&account.token_uri),
        "iat": now,
        "exp": now + JWT_LIFETIME_SECS,
    })
}

/// The token endpoint as the `aud` claim names it: its URL.
fn audience(url: &Url) -> String {
    format!("{}{}", url.origin(), url.path_and_query())
}

/// Where `account`'s token is cached.
fn cache(account: &ServiceAccount) -> TokenCache {
    TokenCache::new(
        "gcp/token",
        &[
            audience(&account.token_uri).as_str(),
            account.client_email.as_str(),
            account.private_key_id.as_deref().unwrap_or(""),
            account.private_key.as_str(),
        ],
    )
}

/// Randomness from the host's `wasi:random` (a CSPRNG), for RSA blinding.
struct WasiRng;

impl rsa::rand_core::TryRng for WasiRng {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(wasi::random::random::get_random_u64() as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(wasi::random::random::get_random_u64())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        let mut bytes = wasi::random::random::get_random_bytes(dst.len() as u64);
        bytes.resize(dst.len(), 0);
        dst.copy_from_slice(&bytes);
        Ok(())
    }
}

impl rsa::rand_core::TryCryptoRng for WasiRng {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_ask_the_key_s_own_endpoint_for_an_hour() {
        let account = ServiceAccount {
            client_email: "sa@p.iam.gserviceaccount.com".into(),
            private_key_id: Some("abc".into()),
            private_key: String::new(),
            token_uri: Url::parse("https://OAuth2.googleapis.com/token").unwrap(),
        };
        let claims = claims(&account, 1_000);
        assert_eq!(claims["iss"], "sa@p.iam.gserviceaccount.com");
        assert_eq!(claims["aud"], "https://oauth2.googleapis.com/token");
        assert_eq!(claims["scope"], CLOUD_PLATFORM);
        assert_eq!(claims["iat"], 1_000);
        assert_eq!(claims["exp"], 4_600);
    }

    #[test]
    fn a_key_that_is_not_rsa_pkcs8_is_refused() {
        for pem in [
            "",
            "not a key",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            // PKCS#8 of an EC key (algorithm id-ecPublicKey).
            "-----BEGIN PRIVATE KEY-----\nMBMCAQAwCQYHKoZIzj0CAQQDAQID\n-----END PRIVATE KEY-----\n",
            // PKCS#8 saying RSA around bytes that are no RSA key.
            "-----BEGIN PRIVATE KEY-----\nMBcCAQAwDQYJKoZIhvcNAQEBBQAEAwECAw==\n-----END PRIVATE KEY-----\n",
            // An RSA key's label on an EC key's body.
            "-----BEGIN RSA PRIVATE KEY-----\nMBMCAQAwCQYHKoZIzj0CAQQDAQID\n-----END RSA PRIVATE KEY-----\n",
        ] {
            assert!(check_private_key(pem).is_err(), "{pem}");
        }
    }
}
