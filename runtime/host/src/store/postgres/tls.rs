//! The link to PostgreSQL: which TLS a store URL asks for, read as libpq
//! reads `sslmode` and `sslrootcert`, and the rustls connector that holds
//! every connection of the pool to it.
//!
//! Guards against the database link being read or redirected on the wire:
//! tokens, policies and sealed records cross it. `verify-full` (a chain to
//! the given roots and the URL's host name in the certificate) is the only
//! mode that stops an active attacker; `verify-ca` checks the chain only;
//! `require` encrypts without checking who answers (unless `sslrootcert` is
//! given: then the chain is checked, as libpq does); `prefer`, the default
//! as in libpq, is `require` when the server offers TLS and plaintext when
//! it does not; `disable` is plaintext. A `verify-*` mode without
//! `sslrootcert` is refused (libpq's default root file lives in a home
//! directory, and this library reads no environment): name a PEM file, or
//! `system` for the public web roots flavorbox ships (libpq 16's spelling,
//! allowed with `verify-full` only, as there).
//!
//! Nothing read here reaches a message but the mode, the root file's path
//! and what is wrong with it: never the URL's password, never a
//! certificate's contents.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use percent_encoding::percent_decode_str;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{WebPkiServerVerifier, verify_server_cert_signed_by_trust_anchor};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::SslMode as DriverSslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::{Error, Result};

/// The `sslmode` values libpq knows but `allow` (plaintext first, which no
/// one should choose for a secrets store).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    const ALL: [(&'static str, SslMode); 5] = [
        ("disable", SslMode::Disable),
        ("prefer", SslMode::Prefer),
        ("require", SslMode::Require),
        ("verify-ca", SslMode::VerifyCa),
        ("verify-full", SslMode::VerifyFull),
    ];

    pub(super) fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, mode)| *mode == self)
            .map_or("", |(name, _)| name)
    }

    fn parse(value: &str) -> Result<SslMode> {
        Self::ALL
            .iter()
            .find(|(name, _)| *name == value)
            .map(|(_, mode)| *mode)
            .ok_or_else(|| {
                Error::invalid(
                    "the store URL's sslmode must be disable, prefer, require, verify-ca or \
                     verify-full",
                )
            })
    }

    /// What the driver does before the handshake: whether it asks for TLS
    /// and whether it may go on without.
    fn driver(self) -> DriverSslMode {
        match self {
            SslMode::Disable => DriverSslMode::Disable,
            SslMode::Prefer => DriverSslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => DriverSslMode::Require,
        }
    }
}

/// Where the certificates a server is checked against come from.
#[derive(Debug, PartialEq, Eq)]
enum Roots {
    /// `sslrootcert=PATH`: a PEM file of CA certificates.
    File(PathBuf),
    /// `sslrootcert=system`: the public web roots flavorbox ships.
    System,
}

/// A store URL taken apart: the driver's configuration (without the TLS
/// parameters, which the driver does not know) and the TLS to use.
pub(super) struct Link {
    pub(super) config: tokio_postgres::Config,
    pub(super) mode: SslMode,
    pub(super) tls: MakeRustlsConnect,
}

/// Reads `url` (`postgres://USER:PASSWORD@HOST:PORT/DB?PARAMS`): the
/// driver's parameters, plus `sslmode` and `sslrootcert`.
pub(super) fn link(url: &str) -> Result<Link> {
    let (url, mode, roots) = take_tls_params(url)?;
    // The parser's message may quote the URL, password included.
    let mut config = tokio_postgres::Config::from_str(&url)
        .map_err(|_| Error::invalid("the store URL is not a PostgreSQL connection URL"))?;
    config.ssl_mode(mode.driver());
    let tls = MakeRustlsConnect::new(client_config(mode, roots.as_ref())?);
    Ok(Link { config, mode, tls })
}

/// `url` without its `sslmode` and `sslrootcert` parameters, and what they
/// say. The query starts at the first `?` after the credentials, as the
/// driver reads it (a password may hold a `?`).
fn take_tls_params(url: &str) -> Result<(String, SslMode, Option<Roots>)> {
    let after_credentials = url.find('@').map_or(0, |at| at + 1);
    let Some(query_start) = url[after_credentials..]
        .find('?')
        .map(|q| after_credentials + q)
    else {
        return Ok((url.to_string(), SslMode::Prefer, None));
    };
    let (mut mode, mut roots) = (None, None);
    let mut kept = Vec::new();
    for pair in url[query_start + 1..].split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |text: &str| {
            percent_decode_str(text)
                .decode_utf8()
                .map(|text| text.into_owned())
                .map_err(|_| Error::invalid("the store URL is not a PostgreSQL connection URL"))
        };
        match decode(key)?.as_str() {
            "sslmode" => mode = Some(SslMode::parse(&decode(value)?)?),
            "sslrootcert" => {
                let value = decode(value)?;
                roots = Some(if value == "system" {
                    Roots::System
                } else {
                    Roots::File(PathBuf::from(value))
                });
            }
            _ => kept.push(pair),
        }
    }
    // libpq: `sslrootcert=system` makes `verify-full` the default, and is
    // refused with any weaker mode.
    let mode = match (mode, &roots) {
        (None, Some(Roots::System)) => SslMode::VerifyFull,
        (Some(mode), Some(Roots::System)) if mode != SslMode::VerifyFull => {
            return Err(Error::invalid(format!(
                "the store URL's sslrootcert=system needs sslmode=verify-full, not {}",
                mode.name()
            )));
        }
        (mode, _) => mode.unwrap_or(SslMode::Prefer),
    };
    if matches!(mode, SslMode::VerifyCa | SslMode::VerifyFull) && roots.is_none() {
        return Err(Error::invalid(format!(
            "the store URL's sslmode={} needs sslrootcert=PATH (a PEM file of the CA \
             certificates to trust) or sslrootcert=system (the public web roots)",
            mode.name()
        )));
    }
    let mut rest = url[..query_start].to_string();
    if !kept.is_empty() {
        rest.push('?');
        rest.push_str(&kept.join("&"));
    }
    Ok((rest, mode, roots))
}

/// The roots `roots` names.
fn root_store(roots: &Roots) -> Result<RootCertStore> {
    let path = match roots {
        Roots::System => {
            return Ok(RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.into(),
            });
        }
        Roots::File(path) => path,
    };
    let unreadable = |e: &dyn std::fmt::Display| {
        Error::invalid(format!(
            "cannot read the store's sslrootcert {}: {e}",
            path.display()
        ))
    };
    let mut store = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| unreadable(&e))? {
        store
            .add(cert.map_err(|e| unreadable(&e))?)
            .map_err(|e| unreadable(&e))?;
    }
    if store.is_empty() {
        return Err(unreadable(&"it holds no certificate"));
    }
    Ok(store)
}

/// The rustls client configuration `mode` and `roots` call for.
fn client_config(mode: SslMode, roots: Option<&Roots>) -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(Error::host)?;
    let roots = roots.map(root_store).transpose()?.map(Arc::new);
    let config = match (mode, roots) {
        (SslMode::VerifyFull, Some(roots)) => {
            let verifier = WebPkiServerVerifier::builder_with_provider(roots, provider)
                .build()
                .map_err(|e| Error::invalid(format!("the store's sslrootcert: {e}")))?;
            builder.with_webpki_verifier(verifier)
        }
        // verify-ca; require or prefer with a root file (libpq checks the
        // chain then too); any of these without one (checked above: only
        // require and prefer).
        (_, roots) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(ChainOnly { roots, provider })),
    };
    Ok(config.with_no_client_auth())
}

/// Checks a server's chain against `roots` but not its name (`verify-ca`),
/// or, without roots, nothing but that the server holds the key of the
/// certificate it shows (`require`, `prefer`: encryption against a passive
/// listener only).
#[derive(Debug)]
struct ChainOnly {
    roots: Option<Arc<RootCertStore>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        if let Some(roots) = &self.roots {
            let cert = ParsedCertificate::try_from(end_entity)?;
            verify_server_cert_signed_by_trust_anchor(
                &cert,
                roots,
                intermediates,
                now,
                self.provider.signature_verification_algorithms.all,
            )?;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(url: &str) -> (String, SslMode, Option<Roots>) {
        take_tls_params(url).unwrap()
    }

    fn refusal(url: &str) -> String {
        take_tls_params(url).expect_err("refused").to_string()
    }

    #[test]
    fn without_sslmode_the_default_is_prefer() {
        assert_eq!(
            params("postgres://u@h:5432/db"),
            ("postgres://u@h:5432/db".into(), SslMode::Prefer, None)
        );
        assert_eq!(
            params("postgres://u@h/db?connect_timeout=3").1,
            SslMode::Prefer
        );
    }

    #[test]
    fn tls_params_are_taken_out_and_the_others_kept() {
        let (rest, mode, roots) = params(
            "postgres://u@h/db?application_name=a&sslmode=verify-full\
             &sslrootcert=%2Fetc%2Fca%20dir%2Fca.pem&connect_timeout=3",
        );
        assert_eq!(
            rest,
            "postgres://u@h/db?application_name=a&connect_timeout=3"
        );
        assert_eq!(mode, SslMode::VerifyFull);
        assert_eq!(roots, Some(Roots::File("/etc/ca dir/ca.pem".into())));
        let (rest, mode, _) = params("postgresql://h?sslmode=disable");
        assert_eq!((rest.as_str(), mode), ("postgresql://h", SslMode::Disable));
    }

    #[test]
    fn every_libpq_mode_but_allow_is_read() {
        for (name, mode) in SslMode::ALL {
            let url = format!("postgres://h/db?sslmode={name}&sslrootcert=/ca.pem");
            assert_eq!(params(&url).1, mode);
            assert_eq!(mode.name(), name);
        }
        let message = refusal("postgres://h/db?sslmode=allow");
        assert!(
            message.contains("sslmode must be disable, prefer"),
            "{message}"
        );
    }

    #[test]
    fn a_question_mark_in_the_password_is_not_the_query() {
        let (rest, mode, _) = params("postgres://u:pa?ss@h/db?sslmode=require");
        assert_eq!(
            (rest.as_str(), mode),
            ("postgres://u:pa?ss@h/db", SslMode::Require)
        );
    }

    #[test]
    fn a_verifying_mode_needs_roots() {
        for mode in ["verify-ca", "verify-full"] {
            let message = refusal(&format!("postgres://u:hunter2@h/db?sslmode={mode}"));
            assert!(message.contains("needs sslrootcert=PATH"), "{message}");
            assert!(!message.contains("hunter2"), "{message}");
        }
    }

    #[test]
    fn system_roots_mean_verify_full() {
        assert_eq!(
            params("postgres://h/db?sslrootcert=system"),
            (
                "postgres://h/db".into(),
                SslMode::VerifyFull,
                Some(Roots::System)
            )
        );
        let message = refusal("postgres://h/db?sslmode=require&sslrootcert=system");
        assert!(message.contains("needs sslmode=verify-full"), "{message}");
    }

    #[test]
    fn an_unreadable_root_file_is_named_without_the_password() {
        let message = link("postgres://u:hunter2@h/db?sslmode=verify-full&sslrootcert=/no/ca.pem")
            .err()
            .expect("refused")
            .to_string();
        assert!(message.contains("sslrootcert /no/ca.pem"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let url = format!(
            "postgres://h/db?sslmode=verify-ca&sslrootcert={}",
            empty.display()
        );
        let message = link(&url).err().expect("refused").to_string();
        assert!(message.contains("holds no certificate"), "{message}");
    }

    #[test]
    fn the_driver_asks_for_tls_unless_disabled() {
        for (query, mode, driver) in [
            ("sslmode=disable", SslMode::Disable, DriverSslMode::Disable),
            ("", SslMode::Prefer, DriverSslMode::Prefer),
            ("sslmode=require", SslMode::Require, DriverSslMode::Require),
            (
                "sslrootcert=system",
                SslMode::VerifyFull,
                DriverSslMode::Require,
            ),
        ] {
            let link = link(&format!("postgres://h/db?{query}")).unwrap();
            assert_eq!((link.mode, link.config.get_ssl_mode()), (mode, driver));
        }
    }
}
