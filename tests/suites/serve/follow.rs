//! Clients that follow a server: the change feed (`GET
//! /v1/managers/M/changes`) answering at once when the version moved and
//! by its wait when not, bounded and refused like every route; `run
//! --watch` on a client of one node restarting its command when a secret is
//! rotated through another node of the same store; and the offline cache
//! (`--cache`): values kept sealed (no plaintext, no names in the files),
//! used while the server is down within their age and never after it,
//! never for another token.

use std::io::Read;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use flavorbox_tests::postgres::Postgres;
use flavorbox_tests::{cli_command, lines_once, run_cli_env};
use serde_json::json;

use crate::{start, token};

const CHANGES: &str = "/v1/managers/default/changes";

#[test]
fn the_change_feed_answers_when_the_version_moves_or_by_its_wait() {
    let url = Postgres::shared().database();
    let read = token(&url, "default", "read", &[]);
    let write = token(&url, "default", "write", &[]);
    let node = start(&url);
    let now = node.call("GET", &format!("{CHANGES}?wait=0"), Some(&read), None);
    assert_eq!(now.status, 200, "{now:?}");
    let version = now.body["version"].as_u64().unwrap();

    // Unchanged: the answer waits its wait, then says the same version.
    let asked = Instant::now();
    let same = node.call(
        "GET",
        &format!("{CHANGES}?since={version}&wait=1"),
        Some(&read),
        None,
    );
    assert_eq!(same.body["version"].as_u64(), Some(version), "{same:?}");
    assert!(asked.elapsed() >= Duration::from_millis(900));

    // A write on another thread ends a wait early with the new version.
    let port = node.port;
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        flavorbox_tests::serve_node::call_port(
            port,
            "POST",
            "/v1/managers/default/secrets",
            Some(&write),
            &json!({ "name": "db", "values": { "password": "p1" } }).to_string(),
        )
    });
    let moved = node.call(
        "GET",
        &format!("{CHANGES}?since={version}&wait=30"),
        Some(&read),
        None,
    );
    assert_eq!(writer.join().unwrap().status, 201);
    assert!(
        moved.body["version"].as_u64().unwrap() > version,
        "{moved:?}"
    );

    // Bounded and refused like any route: a wait past 30 s, a query it
    // does not take, no token, another manager's.
    for bad in ["wait=31", "since=x", "limit=5"] {
        let refused = node.call("GET", &format!("{CHANGES}?{bad}"), Some(&read), None);
        assert_eq!(refused.status, 400, "{bad}: {refused:?}");
        assert_eq!(refused.body["error"], "invalid", "{refused:?}");
    }
    assert_eq!(node.call("GET", CHANGES, None, None).status, 401);
    let other = node.call(
        "GET",
        "/v1/managers/elsewhere/changes?wait=0",
        Some(&read),
        None,
    );
    assert_eq!(other.status, 403, "{other:?}");
}

#[test]
fn a_secret_rotated_on_one_node_restarts_the_command_on_a_client_of_another() {
    let url = Postgres::shared().database();
    let read = token(&url, "default", "read", &[]);
    let write = token(&url, "default", "write", &[]);
    let (a, b) = (start(&url), start(&url));
    let created = a.call(
        "POST",
        "/v1/managers/default/secrets",
        Some(&write),
        Some(json!({ "name": "db", "values": { "password": "first-value" } })),
    );
    assert_eq!(created.status, 201);
    let dir = tempfile::tempdir().unwrap();
    let seen = dir.path().join("seen");
    let script = format!(
        "trap 'exit 0' TERM; echo \"$DB_PASSWORD\" >> '{}'; while :; do sleep 0.05; done",
        seen.display()
    );
    let server = b.url();
    let mut client = cli_command(None)
        .args(["run", "--server", &server, "--watch", "--secret", "db=DB_"])
        .args(["--", "bash", "-c", &script])
        .env("FLAVORBOX_TOKEN", &read)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    assert_eq!(lines_once(&seen, 1), ["first-value"]);

    let rotated = Instant::now();
    let updated = a.call(
        "PATCH",
        "/v1/managers/default/secrets/db",
        Some(&write),
        Some(json!({ "values": { "password": "second-value" } })),
    );
    assert_eq!(updated.status, 200);
    assert_eq!(lines_once(&seen, 2), ["first-value", "second-value"]);
    eprintln!(
        "rotated on node A, restarted by a client of node B {:?} later",
        rotated.elapsed()
    );
    // SAFETY: kill only sends a signal, to a child this test started.
    unsafe { libc::kill(client.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(client.wait().unwrap().code(), Some(0));
    let mut stderr = String::new();
    client
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(stderr.contains("restarting it"), "{stderr}");
    assert!(!stderr.contains("value"), "{stderr}");
}

/// Every file under `dir`, read whole.
fn files_under(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut found = Vec::new();
    for entry in walk(dir) {
        let name = entry.file_name().unwrap().to_string_lossy().into_owned();
        found.push((name, std::fs::read(&entry).unwrap()));
    }
    found
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn the_offline_cache_answers_while_the_server_is_down_within_its_age_only() {
    let url = Postgres::shared().database();
    let read = token(&url, "default", "read", &[]);
    let other_read = token(&url, "default", "read", &[]);
    let write = token(&url, "default", "write", &[]);
    let node = start(&url);
    let created = node.call(
        "POST",
        "/v1/managers/default/secrets",
        Some(&write),
        Some(json!({ "name": "db", "values": { "password": "cached-pw-7f3a" } })),
    );
    assert_eq!(created.status, 201);
    let cache = tempfile::tempdir().unwrap();
    let cache_home = cache.path().to_str().unwrap().to_string();
    let server = node.url();
    let get = |token: &str, max_age: Option<&str>| {
        let mut args = vec![
            "secret", "--server", &server, "get", "db", "--key", "password",
        ];
        if let Some(max_age) = max_age {
            args.extend(["--cache", max_age]);
        }
        args.push("--reveal");
        let env = [("FLAVORBOX_TOKEN", token), ("XDG_CACHE_HOME", &cache_home)];
        run_cli_env(None, &args, None, &env)
    };
    assert_eq!(get(&read, Some("1h")).ok(), "cached-pw-7f3a\n");

    // Sealed: neither the value nor the secret's name in any file, and
    // the files private.
    let files = files_under(cache.path());
    assert!(files.len() >= 3, "key, own manager, secret: {files:?}");
    for (name, bytes) in &files {
        let text = String::from_utf8_lossy(bytes);
        assert!(!text.contains("cached-pw-7f3a"), "{name} holds the value");
        // Keyed hashes name the entries (hex digits, which may spell
        // `db` by chance): no name says what an entry holds.
        let hashed = name.len() == 40 && name.bytes().all(|b| b.is_ascii_hexdigit());
        assert!(name == "cache.key" || hashed, "{name}");
        assert!(!text.contains("\"db\""), "{name}");
    }
    for path in walk(cache.path()) {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{} is {mode:o}", path.display());
    }

    drop(node);
    // Down: the cached value within its age, said on stderr.
    let offline = get(&read, Some("1h"));
    assert_eq!(offline.ok(), "cached-pw-7f3a\n");
    assert!(
        offline
            .stderr
            .contains("the server cannot be reached; using secret `db` as read"),
        "{offline:?}"
    );
    // `run` reads it the same way.
    let env = [
        ("FLAVORBOX_TOKEN", read.as_str()),
        ("XDG_CACHE_HOME", &cache_home),
    ];
    let ran = run_cli_env(
        None,
        &[
            "run",
            "--server",
            &server,
            "--cache",
            "1h",
            "--secret",
            "db=DB_",
            "--no-mask",
            "--",
            "printenv",
            "DB_PASSWORD",
        ],
        None,
        &env,
    );
    assert_eq!(ran.ok(), "cached-pw-7f3a\n");
    // And `resolve` renders a Helm-style file from it.
    let template = cache.path().join("values.yaml.tmpl");
    std::fs::write(
        &template,
        "password: {{db.password}}\nimage: {{ .Values.image }}\n",
    )
    .unwrap();
    let rendered = run_cli_env(
        None,
        &[
            "resolve",
            "--server",
            &server,
            "--cache",
            "1h",
            template.to_str().unwrap(),
        ],
        None,
        &env,
    );
    assert_eq!(
        rendered.ok(),
        "password: cached-pw-7f3a\nimage: {{ .Values.image }}\n"
    );
    // Without --cache, another token, or past the age: the error.
    get(&read, None).fails(1, "cannot reach the server");
    get(&other_read, Some("1h")).fails(1, "cannot reach the server");
    std::thread::sleep(Duration::from_millis(1100));
    get(&read, Some("1s")).fails(1, "cannot reach the server");
    get(&read, Some("1h")).fails(1, "cannot reach the server");
    get(&read, Some("soon")).fails(2, "not a maximum age");
}
