//! `flavorbox --server URL secret ...`: connecting to a `flavorbox serve`
//! node, on which `secret::run` runs the same commands it runs on a local
//! manager; and `flavorbox --server URL whoami`, what the token is there. The token comes from `FLAVORBOX_TOKEN` or `--token-file` (never
//! the command line, where other users can read it).

use std::collections::BTreeMap;
use std::path::Path;

use flavorbox::serve::audit::format_time;
use flavorbox::serve::client::{self, Remote};
use flavorbox::text::escape;
use flavorbox::{Error, Result};

use super::environment;
use super::output::{out, structured};

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
/// at `server`.
pub fn connect(server: &str, token_file: Option<&Path>, manager: Option<String>) -> Result<Remote> {
    let ca_file = environment::server_ca();
    Remote::new(server, token(token_file)?, ca_file.as_deref(), manager)
}

#[derive(clap::Args)]
pub struct WhoamiArgs {
    /// Output format
    #[arg(short, long, value_enum, default_value_t)]
    output: super::OutputFormat,
}

/// `flavorbox --server URL whoami`: the token's id, name, role, manager and
/// expiry, as the server knows them.
pub fn whoami(server: &str, token_file: Option<&Path>, args: WhoamiArgs) -> Result<()> {
    let ca_file = environment::server_ca();
    let info = client::whoami(server, token(token_file)?, ca_file.as_deref())?;
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
