//! `flavorbox secret --server URL ...`: connecting to a `flavorbox serve`
//! node, on which `secret::run` runs the same commands it runs on a local
//! manager; and `flavorbox whoami --server URL`, what the token is there.
//! The token comes from `FLAVORBOX_TOKEN` or `--token-file` (never the
//! command line, where other users can read it).
//!
//! `--server` and `--token-file` are arguments of `secret` (every
//! subcommand: register, get, list, update (`-i`, `--remove-key`), rename,
//! delete, delete-all, export, import), `run`, `resolve` and `whoami` only:
//! no other command shows or takes them. The commands that run where the
//! store is (`serve`, `token`, `audit`, `flavor`, `secrets-manager`,
//! `schema`, `key`, `init`, `import-zenml`) refuse a server, given on the
//! command line or in `FLAVORBOX_SERVER` ([`refuse_server_from_environment`]),
//! with one line saying where to run them ([`where_it_runs`]), rather than
//! ignore it while they act on the local store.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use flavorbox::serve::audit::format_time;
use flavorbox::serve::client::{self, Remote};
use flavorbox::serve::offline::OfflineCache;
use flavorbox::serve::tokens;
use flavorbox::text::escape;
use flavorbox::{Error, Result};

use super::environment;
use super::output::{err_line, out, structured};

/// Where `secret` commands run instead of the home: a `flavorbox serve`
/// node.
#[derive(Args, Clone)]
pub struct RemoteArgs {
    /// Run on this `flavorbox serve` node (http://HOST:PORT) instead of the
    /// home, with the token from FLAVORBOX_TOKEN or --token-file
    #[arg(long, global = true, env = environment::SERVER, value_name = "URL")]
    pub server: Option<String>,

    /// File holding the token for --server
    #[arg(long, global = true, value_name = "FILE")]
    pub token_file: Option<PathBuf>,

    /// With --server: keep the secrets read (sealed, in the user's cache
    /// directory) and use them while the server cannot be reached, for at
    /// most MAX_AGE after they were read (e.g. 15m, 12h, 7d)
    #[arg(long, global = true, env = environment::CACHE_TTL, value_name = "MAX_AGE")]
    pub cache: Option<String>,
}

/// The commands that run where the store is, by their first word.
const STORE_COMMANDS: &[&str] = &[
    "serve",
    "token",
    "audit",
    "flavor",
    "secrets-manager",
    "schema",
    "key",
    "init",
    "import-zenml",
];

/// What the commands that take a server are, for a refusal's end.
pub const SERVER_COMMANDS: &str =
    "--server and --token-file go with `secret`, `run`, `resolve` and `whoami` only";

/// Where the command `path` (`flavorbox token create`) runs, told when it
/// is given a server through `given` (`--server`, `FLAVORBOX_SERVER`);
/// `None` for a command that never opens a store (`completions`, `flavor
/// new`, ...).
pub fn where_it_runs(path: &str, given: &str) -> Option<String> {
    let mut words = path.split(' ').skip(1);
    let first = words.next()?;
    let project_only = first == "flavor" && matches!(words.next(), Some("new" | "build"));
    (STORE_COMMANDS.contains(&first) && !project_only).then(|| {
        format!("`{path}` runs where the store is: on the server's machine, without {given}")
    })
}

/// Refuses the command `path`, which runs where the store is, while
/// `FLAVORBOX_SERVER` names a server: one line saying where to run it.
pub fn refuse_server_from_environment(path: &str) -> Result<()> {
    if environment::server().is_some() {
        let given = format!("{} (unset it)", environment::SERVER);
        let runs = where_it_runs(path, &given)
            .unwrap_or_else(|| format!("`{path}` does not take a server"));
        return Err(Error::invalid(format!(
            "{} is set, but {runs}; {SERVER_COMMANDS}",
            environment::SERVER
        )));
    }
    Ok(())
}

/// The longest token file read.
const TOKEN_FILE_BYTES: u64 = 4096;

fn token(file: Option<&Path>) -> Result<String> {
    if let Some(path) = file {
        use std::io::Read;
        let mut text = String::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(TOKEN_FILE_BYTES).read_to_string(&mut text))
            .map_err(|e| {
                Error::invalid(format!("cannot read token file {}: {e}", path.display()))
            })?;
        return Ok(text);
    }
    match environment::token()? {
        Some(token) => Ok(token.to_string()),
        None => Err(Error::invalid(format!(
            "--server needs a token: set {} or pass --token-file FILE",
            environment::TOKEN
        ))),
    }
}

/// The secrets manager `manager` (the token's own if `None`) on the server
/// `remote.server` names, with the offline cache if `--cache` asks for it.
pub fn connect(server: &str, remote: &RemoteArgs, manager: Option<String>) -> Result<Remote> {
    let ca_file = environment::server_ca();
    let token = token(remote.token_file.as_deref())?;
    let offline = remote.cache.as_deref().map(offline_cache).transpose()?;
    Remote::with_offline_cache(server, token, ca_file.as_deref(), manager, offline)
}

/// The offline cache in the user's cache directory, its entries used for
/// at most `max_age`; each use said on stderr.
fn offline_cache(max_age: &str) -> Result<Arc<OfflineCache>> {
    let max_age = tokens::parse_ttl(max_age).map_err(|_| {
        Error::invalid(format!(
            "--cache {}: not a maximum age (a number followed by s, m, h or d, e.g. 12h)",
            escape(&flavorbox::text::clip(max_age, 32))
        ))
    })?;
    let dir = environment::offline_cache_dir().ok_or_else(|| {
        Error::invalid("--cache: no cache directory (set XDG_CACHE_HOME or HOME)")
    })?;
    let said = move |name: &str, age: Duration| {
        err_line(format_args!(
            "flavorbox: the server cannot be reached; using secret `{}` as read {} ago \
             (--cache keeps it {})",
            escape(name),
            shown_age(age),
            shown_age(max_age)
        ));
    };
    Ok(Arc::new(OfflineCache::open(&dir, max_age, Box::new(said))?))
}

/// A duration in its largest whole unit: `42s`, `5m`, `3h`, `2d`.
fn shown_age(age: Duration) -> String {
    let secs = age.as_secs();
    match secs {
        0..60 => format!("{secs}s"),
        60..3_600 => format!("{}m", secs / 60),
        3_600..86_400 => format!("{}h", secs / 3_600),
        _ => format!("{}d", secs / 86_400),
    }
}

#[derive(clap::Args)]
pub struct WhoamiArgs {
    #[command(flatten)]
    remote: RemoteArgs,
    /// Output format
    #[arg(short, long, value_enum, default_value_t)]
    output: super::OutputFormat,
}

/// `flavorbox whoami --server URL`: the token's id, name, role, manager and
/// expiry, as the server knows them.
pub fn whoami(args: WhoamiArgs) -> Result<()> {
    let Some(server) = args.remote.server.as_deref() else {
        return Err(Error::invalid(
            "whoami asks a server what a token is: pass --server URL (or set FLAVORBOX_SERVER)",
        ));
    };
    let ca_file = environment::server_ca();
    let info = client::whoami(
        server,
        token(args.remote.token_file.as_deref())?,
        ca_file.as_deref(),
    )?;
    let expires = info
        .expires_ms
        .map_or_else(|| "never".to_string(), format_time);
    let name = info.name.unwrap_or_else(|| "-".to_string());
    let fields = [
        ("token", info.id),
        ("name", name),
        ("role", info.role.as_str().to_string()),
        ("manager", info.manager),
        ("expires", expires),
    ];
    if let Some(printed) = structured(args.output, &BTreeMap::from(fields.clone())) {
        return printed;
    }
    for (field, value) in fields {
        out!("{field:<8} {}", escape(&value));
    }
    Ok(())
}
