//! The web console of `flavorbox serve` (`/ui/`), and the routes it reads
//! beyond those of the CLI's client mode.
//!
//! `api.rs`: what the node answers, tested over raw HTTP: the page's
//! Content-Security-Policy and framing headers, a state-changing request
//! from another site's page refused before anything is written, one key
//! read alone and audited, key names without values, the audit log filtered
//! (admin only, its query bounded), and the last `evaluate` report recorded
//! for a flavor. `browser.rs`: the console in headless Chromium driven by
//! Selenium (`tests/support/console_browser.py`): sign in, list, search,
//! reveal, copy, create, update, roll back, delete, refused with a read
//! token, the audit log, flavors and a report, signed out on revocation,
//! and XSS payloads in a secret's name, value and label, a flavor's
//! description and an audit field rendered inert.

mod api;
mod browser;

use flavorbox_tests::serve_node::Node;
use flavorbox_tests::{CliHome, guests};

/// A value that runs script if a page parses it as HTML.
const MARKUP: &str = "<img src=x onerror=\"window.__pwned=1\"><script>window.__pwned=1</script>";

/// A node on a home of its own, with secrets, tokens of each role and the
/// `hostile_markup` flavor registered with its evaluate report recorded.
struct Console {
    node: Node,
    /// The CLI on the node's home (the node holds it open; the CLI opens
    /// it beside the node as an operator would).
    home: std::path::PathBuf,
    admin: String,
    write: String,
    read: String,
}

impl Console {
    /// `secrets` secrets besides `db_creds` (`username`, `password`,
    /// labelled `env=prod`) and `web_markup` (a value and a label value of
    /// [`MARKUP`]).
    fn start(secrets: usize) -> Console {
        let cli = CliHome::new();
        let dir = cli.dir;
        let home = dir.path().to_path_buf();
        let on_home = CliHome { dir };
        let file = seed_file(&home, secrets);
        on_home.cli(&["secret", "import", &file]).ok();
        let wasm = guests::HOSTILE_MARKUP.path();
        let wasm = wasm.to_str().unwrap();
        // The verdict fails (its get-secret fails by design): exit 1.
        on_home
            .cli(&["evaluate", wasm, "--record", "--budget", "60"])
            .fails(1, "check(s) failed");
        on_home
            .cli(&["flavor", "register", wasm, "--grant", "storage"])
            .ok();
        let token = |role: &str| {
            let made = [
                "token",
                "create",
                "--manager",
                "default",
                "--role",
                role,
                "--name",
                role,
            ];
            on_home.cli(&made).ok().trim().to_string()
        };
        let (admin, write, read) = (token("admin"), token("write"), token("read"));
        let node = Node::start(on_home.dir, None, &[]);
        Console {
            node,
            home,
            admin,
            write,
            read,
        }
    }
}

/// An export file of `db_creds`, `web_markup` and `secrets` more, in
/// three schemas, some labelled; its path.
fn seed_file(dir: &std::path::Path, secrets: usize) -> String {
    use serde_json::json;
    let mut all = vec![
        json!({"name": "db_creds", "schema": "arbitrary",
               "values": {"username": "admin", "password": "hunter2-db"},
               "labels": {"env": "prod"}}),
        json!({"name": "web_markup", "schema": "arbitrary",
               "values": {"html": MARKUP}, "labels": {"note": MARKUP}}),
    ];
    let schemas = ["arbitrary", "basic_auth", "aws"];
    for i in 0..secrets {
        let schema = schemas[i % schemas.len()];
        let values = match schema {
            "basic_auth" => json!({"username": format!("user{i}"), "password": format!("pw-{i}")}),
            "aws" => json!({"aws_access_key_id": format!("AKIA{i:08}"),
                            "aws_secret_access_key": format!("sk-{i}")}),
            _ => json!({"token": format!("tok-{i}")}),
        };
        let mut secret = json!({"name": format!("app_{i:04}"), "schema": schema, "values": values});
        if i % 10 == 0 {
            secret["labels"] = json!({"team": if i % 20 == 0 { "red" } else { "blue" }});
        }
        all.push(secret);
    }
    let doc = json!({"flavorbox_export": 1, "manager": "elsewhere", "secrets": all});
    let path = dir.join("seed.json");
    std::fs::write(&path, doc.to_string()).unwrap();
    path.to_str().unwrap().to_string()
}
