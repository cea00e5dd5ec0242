//! The peer a team would run instead: an OpenBao dev server (in-memory
//! storage, KV version 2 at `secret/`) on loopback, read with a token whose
//! policy allows reading one secret, as a service would be given.
//!
//! Guards against: comparing with a peer that does less than its users
//! would ask of it (the token is not the root token, which skips policy
//! checks; the row "with audit" has a file audit device on, as
//! `flavorbox serve` always audits).

use flavorbox_tests::openbao::{OpenBao, openbao_with_config};
use serde_json::json;

/// The secret both servers are read for: two keys.
pub const USER: &str = "bench";
pub const PASSWORD: &str = "bench-pw";

/// The KV v2 path of the secret read.
pub const PATH: &str = "/v1/secret/data/bench";

/// Writes the secret and makes a token that may only read it.
pub fn seed(bao: &OpenBao) -> String {
    bao.call(
        "POST",
        PATH,
        Some(json!({"data": {"user": USER, "password": PASSWORD}})),
    );
    bao.call(
        "PUT",
        "/v1/sys/policies/acl/bench-read",
        Some(json!({"policy": "path \"secret/data/bench\" { capabilities = [\"read\"] }"})),
    );
    let made = bao.call(
        "POST",
        "/v1/auth/token/create",
        Some(json!({"policies": ["bench-read"], "no_default_policy": true, "ttl": "1h"})),
    );
    made["auth"]["client_token"]
        .as_str()
        .expect("a client token")
        .to_string()
}

/// A dev server of its own with a file audit device writing to
/// `dir/audit.log` (OpenBao enables audit devices only from its
/// configuration file, written to `dir`).
pub fn audited(dir: &std::path::Path) -> OpenBao {
    let config = dir.join("audit.hcl");
    let log = dir.join("audit.log");
    std::fs::write(
        &config,
        format!(
            "audit \"file\" \"bench\" {{\n  options {{\n    file_path = \"{}\"\n  }}\n}}\n",
            log.display()
        ),
    )
    .expect("the audit configuration");
    let bao = openbao_with_config(&config);
    let devices = bao.call("GET", "/v1/sys/audit", None);
    assert!(
        devices["data"]["bench/"].is_object(),
        "no file audit device: {devices}"
    );
    bao
}

/// The server's version, for the report.
pub fn version(bao: &OpenBao) -> String {
    let health = bao.call("GET", "/v1/sys/health", None);
    format!(
        "OpenBao {}",
        health["version"].as_str().unwrap_or("(version unknown)")
    )
}
