//! `flavorbox --server URL secret ...`: connecting to a `flavorbox serve`
//! node, on which `secret::run` runs the same commands it runs on a local
//! manager. The token comes from `FLAVORBOX_TOKEN` or `--token-file` (never
//! the command line, where other users can read it).

use std::path::Path;

use flavorbox::serve::client::Remote;
use flavorbox::{Error, Result};

use super::environment;

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
