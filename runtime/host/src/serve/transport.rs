//! How a node takes connections: the listener, TLS, connection limits, the
//! header timeout, and a graceful stop on SIGTERM or SIGINT.
//!
//! Guards against a client holding the node: a TLS handshake or a
//! request's headers that take longer than [`HEADER_TIMEOUT`] close the
//! connection, each on its own task so a slow client delays no other (a
//! body's own bound is the handler's, `ServeLimits::body_timeout`); at
//! most [`MAX_CONNECTIONS`] are open, past which new ones wait to be
//! accepted; one peer address holds at most its share of them
//! (`ServeLimits::peer_connections`), a further connection from it being
//! closed as soon as it is accepted, so other addresses (a health check
//! among them) still get in; and a stopping node waits for the requests in
//! flight no longer than [`DRAIN_TIMEOUT`].

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::extract::ConnectInfo;

use super::Stream;
use super::tenants::InFlight;
use crate::error::{Error, Result};

/// How long a client may take to send a request's headers (also: how long
/// an idle keep-alive connection is kept).
pub const HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Connections served at once; past this, new ones wait to be accepted.
pub const MAX_CONNECTIONS: usize = 1024;

/// How long a stopping node waits for the requests in flight.
pub const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The TLS configuration of `cert` (a PEM chain) and `key` (a PEM private
/// key); HTTP/1.1 only.
pub(super) fn tls_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let unreadable = |path: &Path, e: &dyn std::fmt::Display| {
        Error::invalid(format!("cannot read TLS file {}: {e}", path.display()))
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| unreadable(cert, &e))?
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| unreadable(cert, &e))?;
    if certs.is_empty() {
        return Err(Error::invalid(format!(
            "TLS file {} holds no certificate",
            cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| unreadable(key, &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(Error::host)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| Error::invalid(format!("the TLS certificate and key do not fit: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Whether the node is stopping: what a request that waits (the change
/// feed) ends its wait on.
#[derive(Clone)]
pub(super) struct Stopping(pub(super) tokio::sync::watch::Receiver<bool>);

/// Resolves at the first SIGTERM or SIGINT.
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        // Without handlers the default action (the process ends) stands.
        _ => std::future::pending().await,
    }
}

/// Accepts connections and serves HTTP/1.1 over each on its own task (over
/// TLS if `tls` is given, the handshake on that task too, so a slow client
/// delays no other). A connection that does not send its headers within
/// [`HEADER_TIMEOUT`] is closed, at most [`MAX_CONNECTIONS`] are open, and
/// a connection from a peer already holding its limit in `peers` is closed
/// unread.
/// On SIGTERM or SIGINT the node stops accepting, lets the requests in
/// flight finish (closing each connection after its current request), and
/// returns once they have, or after [`DRAIN_TIMEOUT`].
pub(super) async fn serve_connections(
    listener: tokio::net::TcpListener,
    app: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    peers: InFlight<IpAddr>,
) -> Result<()> {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let (stopping, stop_seen) = tokio::sync::watch::channel(false);
    let stop = stop_signal();
    tokio::pin!(stop);
    loop {
        let accepted = tokio::select! {
            _ = &mut stop => break,
            accepted = async {
                let slot = slots.clone().acquire_owned().await;
                (slot, listener.accept().await)
            } => accepted,
        };
        let (slot, (tcp, peer)) = match accepted {
            (Ok(slot), Ok(connection)) => (slot, connection),
            (_, Err(err)) => {
                // Out of descriptors, say: wait rather than spin.
                tracing::warn!("accept failed: {err}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
            (Err(_), _) => return Err(Error::host("the connection limit closed")),
        };
        let Some(peer_slot) = peers.try_hold(peer.ip()) else {
            // Refused fast: closed unread, the node's slot back at once.
            tracing::debug!("{} holds its connection limit; closed", peer.ip());
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let app = app.clone();
        let mut stop_seen = stop_seen.clone();
        tokio::spawn(async move {
            let _slots = (slot, peer_slot);
            let app = app
                .layer(axum::Extension(ConnectInfo(peer)))
                .layer(axum::Extension(Stopping(stop_seen.clone())));
            let service = hyper_util::service::TowerToHyperService::new(app);
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT);
            let io: Box<dyn Stream> = match acceptor {
                Some(acceptor) => {
                    let handshake = tokio::time::timeout(HEADER_TIMEOUT, acceptor.accept(tcp));
                    match handshake.await {
                        Ok(Ok(tls)) => Box::new(tls),
                        _ => return,
                    }
                }
                None => Box::new(tcp),
            };
            let connection = http.serve_connection(hyper_util::rt::TokioIo::new(io), service);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => return,
                _ = stop_seen.wait_for(|stop| *stop) => {}
            }
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        });
    }
    drop(listener);
    let _ = stopping.send(true);
    // Every connection holds a slot until it ends.
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, slots.acquire_many(MAX_CONNECTIONS as u32)).await;
    Ok(())
}
