//! `flavorbox serve`, `flavorbox token ...` and `flavorbox audit`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use flavorbox::serve::audit::format_time;
use flavorbox::serve::{self as served, ServeLimits, ServeOptions, tokens};
use flavorbox::store::Role;
use flavorbox::text::escape;
use flavorbox::{Error, Home, Result};

use super::OutputFormat;
use super::output::{err_line, json, out, table};

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on, e.g. 127.0.0.1:8200 (port 0: any free port)
    #[arg(long, value_name = "ADDR")]
    listen: SocketAddr,
    /// Also append every audit entry to this JSON-lines file
    #[arg(long, value_name = "FILE")]
    audit_file: Option<PathBuf>,
    /// Failed authentications one address may make per minute before it is
    /// refused (429) until the minute ends
    #[arg(long, value_name = "N", default_value_t = tokens::FAILURES_PER_WINDOW)]
    auth_failures: u32,
    /// Serve HTTPS: the certificate chain (PEM)
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// Serve HTTPS: the private key (PEM)
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Seconds a client has to send a request's whole body; past them it
    /// is answered 408 and disconnected
    #[arg(long, value_name = "SEC", default_value_t = served::DEFAULT_BODY_TIMEOUT.as_secs())]
    body_timeout: u64,
    /// Connections one client address may hold at once; further ones are
    /// closed (behind a proxy, every client shares the proxy's address)
    #[arg(long, value_name = "N", default_value_t = served::DEFAULT_PEER_CONNECTIONS)]
    peer_connections: usize,
    /// Requests one token may have in flight at once; further ones are
    /// answered 429 with Retry-After
    #[arg(long, value_name = "N", default_value_t = served::DEFAULT_TOKEN_REQUESTS)]
    token_requests: usize,
    /// Flavor calls the node runs at once (at most 16)
    #[arg(long, value_name = "N", default_value_t = ServeLimits::default().call_slots)]
    call_slots: usize,
    /// Flavor calls one secrets manager runs at once (at most --call-slots)
    #[arg(long, value_name = "N", default_value_t = served::DEFAULT_MANAGER_CALL_SLOTS)]
    manager_call_slots: usize,
    /// Milliseconds a request waits for a call slot before it is answered
    /// 503 with Retry-After
    #[arg(long, value_name = "MS", default_value_t = served::DEFAULT_CALL_WAIT.as_millis() as u64)]
    call_wait_ms: u64,
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create a token for one secrets manager; it is printed once
    Create {
        /// The secrets manager the token opens
        #[arg(long, value_name = "NAME")]
        manager: String,
        /// read (get, list), write (+ register, update, delete) or admin
        /// (+ delete-all, list managers and flavors)
        #[arg(long)]
        role: String,
        /// Lifetime, e.g. 90s, 12h, 30d [default: until revoked]
        #[arg(long, value_name = "DURATION")]
        ttl: Option<String>,
    },
    /// List tokens (never their text)
    List {
        /// Output format
        #[arg(long, value_enum, default_value_t)]
        output: OutputFormat,
    },
    /// Revoke a token by its id
    Revoke {
        /// The token's id, as `token list` shows it
        id: String,
    },
}

#[derive(Args)]
pub struct AuditArgs {
    /// How many of the latest entries
    #[arg(long, default_value_t = 100)]
    limit: u32,
    /// Output format
    #[arg(long, value_enum, default_value_t)]
    output: OutputFormat,
}

pub fn serve(home: Home, args: ServeArgs) -> Result<()> {
    let options = ServeOptions {
        listen: args.listen,
        audit_file: args.audit_file,
        auth_failures: args.auth_failures,
        tls: args.tls_cert.zip(args.tls_key),
        limits: ServeLimits {
            body_timeout: Duration::from_secs(args.body_timeout),
            peer_connections: args.peer_connections,
            token_requests: args.token_requests,
            call_slots: args.call_slots,
            manager_call_slots: args.manager_call_slots,
            call_wait: Duration::from_millis(args.call_wait_ms),
        },
    };
    let scheme = if options.tls.is_some() {
        "https"
    } else {
        "http"
    };
    flavorbox::serve::run(home, options, |addr| {
        // Scripts wait for this line to learn the port.
        err_line(format_args!("flavorbox: serving on {scheme}://{addr}"));
    })?;
    err_line(format_args!("flavorbox: stopped"));
    Ok(())
}

fn time(ms: Option<i64>) -> String {
    ms.map_or_else(|| "-".to_string(), format_time)
}

pub fn token(home: &Home, cmd: TokenCommand) -> Result<()> {
    match cmd {
        TokenCommand::Create { manager, role, ttl } => {
            let role = Role::parse(&role)?;
            let ttl = ttl.as_deref().map(tokens::parse_ttl).transpose()?;
            let Some(record) = home.db().manager(&manager)? else {
                return Err(Error::not_found(format!(
                    "secrets manager `{manager}` does not exist"
                )));
            };
            let (token, record) = tokens::create(home.access(), &record, role, ttl)?;
            out!("{token}");
            err_line(format_args!(
                "created token {} ({} on secrets manager `{}`, expires {}); it is shown only now",
                record.id,
                role.as_str(),
                manager,
                time(record.expires_ms)
            ));
            Ok(())
        }
        TokenCommand::List { output } => {
            let tokens = home.access().tokens()?;
            let now = tokens::now_ms();
            if output == OutputFormat::Json {
                let rows: Vec<_> = tokens
                    .iter()
                    .map(|t| {
                        serde_json::json!({
                            "id": t.id, "manager": t.manager, "manager_id": t.manager_id,
                            "role": t.role.as_str(), "state": t.state_at(now).as_str(),
                            "created_ms": t.created_ms, "expires_ms": t.expires_ms,
                            "revoked_ms": t.revoked_ms,
                        })
                    })
                    .collect();
                return json(&rows);
            }
            let rows: Vec<Vec<String>> = tokens
                .iter()
                .map(|t| {
                    vec![
                        t.id.clone(),
                        t.manager.clone(),
                        t.manager_id
                            .map_or_else(|| "-".to_string(), |id| id.to_string()),
                        t.role.as_str().to_string(),
                        t.state_at(now).as_str().to_string(),
                        time(Some(t.created_ms)),
                        time(t.expires_ms),
                        time(t.revoked_ms),
                    ]
                })
                .collect();
            table(
                &[
                    "ID",
                    "MANAGER",
                    "MANAGER ID",
                    "ROLE",
                    "STATE",
                    "CREATED",
                    "EXPIRES",
                    "REVOKED",
                ],
                &rows,
            );
            Ok(())
        }
        TokenCommand::Revoke { id } => {
            home.access().revoke_token(&id, tokens::now_ms())?;
            out!("revoked token {}", escape(&id));
            Ok(())
        }
    }
}

pub fn audit(home: &Home, args: AuditArgs) -> Result<()> {
    let entries = home.access().audit(args.limit)?;
    if args.output == OutputFormat::Json {
        return json(&entries);
    }
    let opt = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".to_string());
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                format_time(e.at_ms),
                e.peer.clone(),
                opt(&e.token),
                opt(&e.manager),
                e.operation.clone(),
                opt(&e.secret),
                e.outcome.clone(),
                e.status.to_string(),
            ]
        })
        .collect();
    table(
        &[
            "TIME",
            "PEER",
            "TOKEN",
            "MANAGER",
            "OPERATION",
            "SECRET",
            "OUTCOME",
            "STATUS",
        ],
        &rows,
    );
    Ok(())
}
