//! `flavorbox serve`, `flavorbox token ...` and `flavorbox audit [verify]`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use flavorbox::serve::audit::{self, AuditOptions, format_time};
use flavorbox::serve::{self as served, ServeLimits, ServeOptions, tokens};
use flavorbox::store::{AuditFilter, AuditRetention, AuditVerdict, Role};
use flavorbox::text::escape;
use flavorbox::{Error, Home, Result};

use super::OutputFormat;
use super::output::{err_line, out, structured, table};

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0: any free port); the default answers
    /// this machine only: give e.g. 0.0.0.0:8200 to serve the network
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8200")]
    listen: SocketAddr,
    /// Also append every audit entry, with its link in the chain, to this
    /// JSON-lines file
    #[arg(long, value_name = "FILE")]
    audit_file: Option<PathBuf>,
    /// Rotate the audit file before it grows past this size (bytes, or
    /// with K, M or G: KiB, MiB, GiB)
    #[arg(long, value_name = "SIZE", default_value = "64M", value_parser = parse_size)]
    audit_file_max: u64,
    /// Rotated audit files kept (FILE.1 newest .. FILE.K); older ones are
    /// deleted
    #[arg(long, value_name = "K", default_value_t = audit::DEFAULT_FILE_KEEP,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    audit_file_keep: u32,
    /// Audit entries older than this are pruned from the store, e.g. 90d,
    /// 12h
    #[arg(long, value_name = "AGE", default_value = "90d", value_parser = parse_age)]
    audit_retention: Duration,
    /// Audit entries the store keeps at most (the oldest are pruned)
    #[arg(long, value_name = "N", default_value_t = audit::DEFAULT_MAX_RECORDS,
          value_parser = clap::value_parser!(u64).range(1..))]
    audit_max_records: u64,
    /// Seconds over which refused authentications (401, and 429 to an
    /// address past its failed attempts) are counted per address before
    /// they are written as one audit entry
    #[arg(long, value_name = "SEC", default_value_t = audit::DEFAULT_REFUSAL_INTERVAL.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    audit_refusal_interval: u64,
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
        /// A name to tell the token by in lists and `whoami` (1-128
        /// characters of A-Z a-z 0-9 _ . -, as a secret's name)
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
    },
    /// List tokens (never their text)
    #[command(visible_alias = "ls")]
    List {
        /// Output format
        #[arg(short, long, value_enum, default_value_t)]
        output: OutputFormat,
    },
    /// Revoke a token by its id
    #[command(visible_alias = "rm")]
    Revoke {
        /// The token's id, as `token list` shows it
        id: String,
    },
}

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AuditArgs {
    #[command(subcommand)]
    command: Option<AuditCommand>,
    /// How many of the latest entries (of those the filters select)
    #[arg(long, default_value_t = 100)]
    limit: u32,
    /// Only entries of this secrets manager
    #[arg(long, value_name = "NAME")]
    manager: Option<String>,
    /// Only entries of this token (its id, as `token list` shows it)
    #[arg(long, value_name = "ID")]
    token: Option<String>,
    /// Only entries with this outcome (`ok`, `unauthorized`, `forbidden`,
    /// `not-found`, ...)
    #[arg(long)]
    outcome: Option<String>,
    /// Only entries from the last AGE (e.g. 90s, 12h, 7d)
    #[arg(long, value_name = "AGE", value_parser = parse_age)]
    since: Option<Duration>,
    /// Output format
    #[arg(short, long, value_enum, default_value_t)]
    output: OutputFormat,
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Walk the audit log's hash chain: "N records, chain intact" (exit
    /// 0), or the first broken link (exit 1)
    Verify,
}

/// `64M`: bytes, or KiB, MiB, GiB with K, M, G.
fn parse_size(text: &str) -> std::result::Result<u64, String> {
    let (number, shift) = match text.char_indices().last() {
        Some((at, 'K' | 'k')) => (&text[..at], 10),
        Some((at, 'M' | 'm')) => (&text[..at], 20),
        Some((at, 'G' | 'g')) => (&text[..at], 30),
        _ => (text, 0),
    };
    number
        .parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .and_then(|n| n.checked_mul(1 << shift))
        .ok_or_else(|| {
            format!("`{text}` is not a size above 0 (bytes, or a number with K, M or G)")
        })
}

/// `90d`: a number followed by s, m, h or d.
fn parse_age(text: &str) -> std::result::Result<Duration, String> {
    tokens::parse_ttl(text).map_err(|_| {
        format!("`{text}` is not an age: a number followed by s, m, h or d (e.g. 90d)")
    })
}

pub fn serve(home: Home, args: ServeArgs) -> Result<()> {
    let options = ServeOptions {
        listen: args.listen,
        audit: AuditOptions {
            file: args.audit_file,
            file_max_bytes: args.audit_file_max,
            file_keep: args.audit_file_keep,
            retention: AuditRetention {
                max_age: Some(args.audit_retention),
                max_records: Some(args.audit_max_records),
            },
            refusal_interval: Duration::from_secs(args.audit_refusal_interval),
        },
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

/// A time that may not have come: an expiry, a last use.
fn time_or_never(ms: Option<i64>) -> String {
    ms.map_or_else(|| "never".to_string(), format_time)
}

pub fn token(home: &Home, cmd: TokenCommand) -> Result<()> {
    match cmd {
        TokenCommand::Create {
            manager,
            role,
            ttl,
            name,
        } => {
            let role = Role::parse(&role)?;
            let ttl = ttl.as_deref().map(tokens::parse_ttl).transpose()?;
            let Some(record) = home.db().manager(&manager)? else {
                return Err(Error::not_found(format!(
                    "secrets manager `{manager}` does not exist"
                )));
            };
            let (token, record) =
                tokens::create(home.access(), &record, role, ttl, name.as_deref())?;
            out!("{token}");
            err_line(format_args!(
                "created token {} ({} on secrets manager `{}`, expires {}); it is shown only now",
                record.id,
                role.as_str(),
                manager,
                time_or_never(record.expires_ms)
            ));
            Ok(())
        }
        TokenCommand::List { output } => {
            let tokens = home.access().tokens()?;
            let now = tokens::now_ms();
            if output != OutputFormat::Table {
                let rows: Vec<_> = tokens
                    .iter()
                    .map(|t| {
                        serde_json::json!({
                            "id": t.id, "name": t.name, "manager": t.manager,
                            "manager_id": t.manager_id, "role": t.role.as_str(),
                            "state": t.state_at(now).as_str(), "created_ms": t.created_ms,
                            "last_used_ms": t.last_used_ms, "expires_ms": t.expires_ms,
                            "revoked_ms": t.revoked_ms,
                        })
                    })
                    .collect::<Vec<_>>();
                return structured(output, &rows).unwrap_or(Ok(()));
            }
            let rows: Vec<Vec<String>> = tokens
                .iter()
                .map(|t| {
                    vec![
                        t.id.clone(),
                        t.name.clone().unwrap_or_else(|| "-".to_string()),
                        t.manager.clone(),
                        t.manager_id
                            .map_or_else(|| "-".to_string(), |id| id.to_string()),
                        t.role.as_str().to_string(),
                        t.state_at(now).as_str().to_string(),
                        time(Some(t.created_ms)),
                        time_or_never(t.last_used_ms),
                        time_or_never(t.expires_ms),
                        time(t.revoked_ms),
                    ]
                })
                .collect();
            table(
                &[
                    "ID",
                    "NAME",
                    "MANAGER",
                    "MANAGER ID",
                    "ROLE",
                    "STATE",
                    "CREATED",
                    "LAST USED",
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

pub fn audit(home: &Home, args: AuditArgs) -> Result<ExitCode> {
    if let Some(AuditCommand::Verify) = args.command {
        return verify(home);
    }
    let since_ms = args.since.map(|age| {
        let age = i64::try_from(age.as_millis()).unwrap_or(i64::MAX);
        tokens::now_ms().saturating_sub(age)
    });
    let filter = AuditFilter {
        manager: args.manager,
        token: args.token,
        outcome: args.outcome,
        since_ms,
        until_ms: None,
    };
    let entries = home.access().audit_matching(&filter, args.limit)?;
    if let Some(printed) = structured(args.output, &entries) {
        return printed.map(|()| ExitCode::SUCCESS);
    }
    let opt = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".to_string());
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                format_time(e.at_ms),
                e.count.to_string(),
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
            "COUNT",
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
    Ok(ExitCode::SUCCESS)
}

/// `flavorbox audit verify`: one line, exit 0 when the chain is intact.
fn verify(home: &Home) -> Result<ExitCode> {
    match home.access().verify_audit()? {
        AuditVerdict::Intact {
            records,
            before_chain,
            pruned_through,
            head,
        } => {
            let pruned = if pruned_through > 0 {
                format!(", pruned through record {pruned_through}")
            } else {
                String::new()
            };
            let before = if before_chain > 0 {
                format!(", {before_chain} older records from before the chain not covered")
            } else {
                String::new()
            };
            out!(
                "{records} records, chain intact (head: record {} {}{pruned}{before})",
                head.seq,
                head.hash
            );
            Ok(ExitCode::SUCCESS)
        }
        AuditVerdict::Broken { seq, reason } => {
            err_line(format_args!(
                "flavorbox: audit chain broken at record {seq}: {reason}"
            ));
            Ok(ExitCode::FAILURE)
        }
    }
}
