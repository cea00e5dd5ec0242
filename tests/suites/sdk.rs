//! Flavors written the way ZenML users write them, in Python and
//! JavaScript (and a new Rust project), through the CLI a newcomer uses:
//! `flavor new`, `flavor build`, `evaluate`, `flavor register`, then secrets.
//!
//! What is tested and why:
//! - each language's `flavor new` project builds and passes `evaluate` as
//!   generated (a Python or JavaScript one speaks contract 0.2, so with its
//!   history checks: the versions, soft delete and labels the SDK keeps for a
//!   flavor of six methods), registers and serves CRUD; `examples/pykv` and
//!   `examples/jskv` are exactly what `flavor new` generates, so the example
//!   and the generated project are one component (built once, see
//!   `flavorbox_tests::components`), one built with the project's own WIT and SDK,
//!   the other with the copies `flavor build` embeds;
//! - `examples/vault`, a Python flavor over HTTP, against a real OpenBao dev
//!   server on 127.0.0.1 (`flavorbox_tests::openbao`): evaluate, register, CRUD,
//!   where the secret lands in Vault, and a wrong token answered as denied;
//!   `examples/vault-js`, the same in JavaScript (the JS SDK's HTTP client);
//! - a secret's history through the CLI (`tests/suites/sdk/history.rs`) on
//!   each of those Python and JavaScript flavors: versions with times, an
//!   old version read, rollback, soft delete and restore, a stale
//!   `--if-version`; a class that could not keep that history refused
//!   at build (`tests/suites/sdk/refused.rs`);
//! - a hostile Python flavor is stopped like a Rust one (deadline, memory
//!   even when Python catches the refusal, a capped log), and its 19 MB
//!   compile is announced once and then served from the compile cache;
//! - bad input to `new` and `build`, and a missing tool, are one line, exit 2.

#[path = "sdk/history.rs"]
mod history;
#[path = "sdk/refused.rs"]
mod refused;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use flavorbox_tests::cli::run;
use flavorbox_tests::components::{self, component, source_key};
use flavorbox_tests::conformance::assert_evaluate_passes;
use flavorbox_tests::openbao::{ROOT_TOKEN, openbao};
use flavorbox_tests::{Run, TestHome, cli_command, workspace};
use history::walks_history;

/// Runs the CLI (no home: `new`, `build`, `evaluate`) in `dir` with `env`
/// set.
fn cli(args: &[&str], env: &[(&str, &OsStr)], dir: Option<&Path>) -> Run {
    let mut cmd = cli_command(None);
    cmd.args(args);
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    for (key, value) in env {
        cmd.env(key, value);
    }
    run(cmd, None)
}

/// `flavorbox flavor new NAME --lang LANG` in a fresh directory.
fn new_project(name: &str, lang: &str) -> tempfile::TempDir {
    let parent = tempfile::tempdir().unwrap();
    let out = cli(
        &["flavor", "new", name, "--lang", lang],
        &[],
        Some(parent.path()),
    );
    assert!(out.ok().contains(&format!("flavor `{name}`")), "{out:?}");
    parent
}

/// `evaluate` passes, through the CLI (3 latency samples per operation:
/// the figures are not what is tested here).
#[track_caller]
fn evaluate_passes(wasm: &Path, config: &[(&str, &str)], flags: &[&str]) {
    let mut all = vec!["--samples", "3"];
    all.extend_from_slice(flags);
    assert_evaluate_passes(wasm, config, &all);
}

/// Registers `wasm` as flavor `flavor` with `grants`, and an active manager
/// `m` with `config`; then walks a secret through every operation.
fn register_and_use(
    home: &TestHome,
    wasm: &Path,
    flavor: &str,
    grants: &[&str],
    config: &[(&str, &str)],
) {
    let mut args = vec!["flavor", "register", wasm.to_str().unwrap()];
    args.extend_from_slice(grants);
    let out = home.cli(&args);
    assert!(
        out.ok().contains(&format!("registered flavor `{flavor}`")),
        "{out:?}"
    );
    home.register_manager("m", flavor, config, &["--set-active"]);

    home.register_secret("db_creds", &["username=admin", "password=hunter2-sdk"]);
    home.cli(&["secret", "register", "db_creds", "username=x"])
        .fails(1, "already exists");
    let json = home.revealed("db_creds", None);
    assert_eq!(json["values"]["password"], "hunter2-sdk");
    assert_eq!(json["schema"], "arbitrary");
    // Masked unless revealed.
    assert!(
        !home
            .cli(&["secret", "get", "db_creds"])
            .ok()
            .contains("hunter2-sdk")
    );
    assert!(home.cli(&["secret", "list"]).ok().contains("db_creds"));
    home.cli(&[
        "secret",
        "update",
        "db_creds",
        "password=rotated-sdk",
        "host=db.internal",
    ])
    .ok();
    let json = home.revealed("db_creds", None);
    assert_eq!(json["values"]["password"], "rotated-sdk");
    assert_eq!(json["values"]["host"], "db.internal");
    home.cli(&["secret", "update", "nope", "a=b"])
        .fails(1, "not found");
    home.cli(&["secret", "delete", "db_creds", "--yes"]).ok();
    home.cli(&["secret", "get", "db_creds"])
        .fails(1, "not found");
    home.cli(&["secret", "delete", "db_creds", "--yes"])
        .fails(1, "not found");
}

/// `flavor new` for `lang` generates the flavor in `examples/<name>`, and
/// both build to the same component.
fn generated_equals_example(
    name: &str,
    lang: &str,
    source: &str,
) -> (tempfile::TempDir, std::path::PathBuf) {
    let parent = new_project(name, lang);
    let project = parent.path().join(name);
    let example = workspace().join("examples").join(name);
    assert_eq!(
        std::fs::read_to_string(project.join(source)).unwrap(),
        std::fs::read_to_string(example.join(source)).unwrap(),
        "examples/{name}/{source} is not what `flavor new {name} --lang {lang}` generates"
    );
    for (file, source) in [
        ("wit/flavor.wit", "wit/0.2/flavor.wit"),
        ("wit/deps/http.wit", "wit/deps/http.wit"),
    ] {
        assert_eq!(
            std::fs::read(project.join(file)).unwrap(),
            std::fs::read(workspace().join(source)).unwrap(),
            "the project's {file} is not {source}"
        );
    }
    assert_eq!(source_key(&project), source_key(&example));
    (parent, project)
}

#[test]
fn a_python_flavor_from_flavor_new_passes_evaluate_registers_and_serves() {
    let (_parent, project) = generated_equals_example("pykv", "python", "app.py");
    // Built from the generated project (its own WIT and SDK); the example
    // has the same inputs and is served from the same build.
    let wasm = component(&project);
    assert_eq!(component(&workspace().join("examples/pykv")), wasm);
    evaluate_passes(&wasm, &[], &[]);
    let home = TestHome::new();
    register_and_use(&home, &wasm, "pykv", &["--grant", "storage"], &[]);
    walks_history(&home);
    // Declared capabilities and config come from the class.
    let json = home
        .cli(&["flavor", "describe", "pykv", "--output", "json"])
        .json();
    assert_eq!(json["capabilities"], serde_json::json!(["storage"]));
    assert_eq!(
        json["description"],
        "Secrets kept in flavorbox's per-manager storage."
    );
}

#[test]
fn a_javascript_flavor_from_flavor_new_passes_evaluate_registers_and_serves() {
    let (_parent, project) = generated_equals_example("jskv", "js", "app.js");
    // Built from the example (WIT and SDK embedded in flavorbox); the
    // generated project has the same inputs.
    let wasm = component(&workspace().join("examples/jskv"));
    assert_eq!(component(&project), wasm);
    evaluate_passes(&wasm, &[], &[]);
    let home = TestHome::new();
    register_and_use(&home, &wasm, "jskv", &["--grant", "storage"], &[]);
    walks_history(&home);
}

#[test]
fn a_rust_flavor_from_flavor_new_passes_evaluate_and_registers() {
    let parent = new_project("rskv", "rust");
    let project = parent.path().join("rskv");
    assert_eq!(
        std::fs::read(project.join("wit/flavor.wit")).unwrap(),
        std::fs::read(workspace().join("wit/0.1/flavor.wit")).unwrap()
    );
    let wasm = component(&project);
    evaluate_passes(&wasm, &[], &[]);
    register_and_use(
        &TestHome::new(),
        &wasm,
        "rskv",
        &["--grant", "storage"],
        &[],
    );
}

/// The Vault flavor of `examples/<example>` (named `flavor`), built,
/// passing `evaluate` against OpenBao, registered in a new home as the
/// active manager `m` in `namespace`, and walked through every operation.
/// The home, the component, and the manager's config.
fn vault_example(
    example: &str,
    flavor: &str,
    namespace: &str,
) -> (TestHome, PathBuf, [(&'static str, String); 3]) {
    let origin = openbao().origin();
    let wasm = component(&workspace().join("examples").join(example));
    let config = [
        ("address", origin.clone()),
        ("token", ROOT_TOKEN.to_string()),
        ("namespace", namespace.to_string()),
    ];
    let evaluated = format!("{namespace}-eval");
    evaluate_passes(
        &wasm,
        &[
            ("address", &origin),
            ("token", ROOT_TOKEN),
            ("namespace", &evaluated),
        ],
        &["--allow-host", &origin],
    );
    let home = TestHome::new();
    let pairs: Vec<(&str, &str)> = config.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let grants = ["--grant", "storage", "--allow-host", &origin];
    register_and_use(&home, &wasm, flavor, &grants, &pairs);
    walks_history(&home);
    (home, wasm, config)
}

#[test]
fn the_python_vault_example_works_against_openbao() {
    let bao = openbao();
    let namespace = format!("sdk-{}", std::process::id());
    let (home, wasm, config) = vault_example("vault", "vault", &namespace);

    // The secret lands in Vault's KV v2 engine as ZenML's Vault secrets
    // manager keeps it: the key-values plus the schema name.
    home.register_secret("api", &["key=kv2-value"]);
    let stored = bao.api("GET", &format!("/v1/secret/data/{namespace}/api"), None);
    assert_eq!(stored.status, 200, "{stored:?}");
    let data = &stored.body["data"]["data"];
    assert_eq!(data["key"], "kv2-value");
    assert_eq!(data["zenml_schema_name"], "arbitrary");
    // The token is a secret config value: never printed back.
    let listed = home.cli(&["secrets-manager", "list"]);
    assert!(!listed.ok().contains(ROOT_TOKEN), "{listed:?}");

    // A wrong token is Vault's refusal, reported as denied.
    let (address, ns) = (config[0].1.as_str(), config[2].1.as_str());
    home.register_manager(
        "wrong",
        "vault",
        &[
            ("address", address),
            ("token", "not-the-token"),
            ("namespace", ns),
        ],
        &[],
    );
    home.cli(&["secret", "get", "api", "--manager", "wrong"])
        .fails(1, "denied: Vault refused the token");
    // Without the origin granted, the request never leaves the sandbox, and
    // the operator is told the command that grants it (the address is the
    // manager's config: the operator's choice, not the flavor's).
    let ungranted = TestHome::new();
    ungranted
        .cli(&[
            "flavor",
            "register",
            wasm.to_str().unwrap(),
            "--grant",
            "http",
            "--grant",
            "storage",
        ])
        .ok();
    ungranted.register_manager(
        "m",
        "vault",
        &[("address", address), ("token", ROOT_TOKEN)],
        &[],
    );
    let refused = ungranted.cli(&["secret", "get", "api", "--manager", "m"]);
    let line = refused.fails(1, "denied: flavor `vault` may not reach");
    assert!(
        line.contains("grant it with `flavorbox flavor grant vault --allow-host http://127.0.0.1:"),
        "{line}"
    );
}

#[test]
fn the_javascript_vault_example_works_against_openbao() {
    // The same flavor in JavaScript: the SDK's synchronous HTTP client over
    // wasi:http, JSON both ways, error statuses.
    let namespace = format!("sdk-js-{}", std::process::id());
    let (home, _, _) = vault_example("vault-js", "vault-js", &namespace);
    home.register_secret("api", &["key=kv2-js"]);
    let stored = openbao().api("GET", &format!("/v1/secret/data/{namespace}/api"), None);
    assert_eq!(stored.body["data"]["data"]["key"], "kv2-js", "{stored:?}");
}

#[test]
fn a_hostile_python_flavor_is_stopped_like_a_rust_one() {
    let wasm = component(&workspace().join("tests/flavors/hostile-python"));
    // A private compile cache: the first registration compiles (and says
    // so), the second (in the same home, which recorded what it compiled)
    // is served from the cache (and says nothing).
    let cache = tempfile::tempdir().unwrap();
    let env = [("FLAVORBOX_CACHE_DIR", cache.path().as_os_str())];
    let home = TestHome::new();
    let home_arg = home.path().to_str().unwrap().to_string();
    let hcli = |args: &[&str]| {
        let mut full = vec!["--home", home_arg.as_str()];
        full.extend_from_slice(args);
        cli(&full, &env, None)
    };
    let wasm_arg = wasm.to_str().unwrap();
    // The deadline leaves the flood and the allocation time to finish on a
    // loaded two-core machine; the loop runs into it.
    let register = || {
        hcli(&[
            "flavor",
            "register",
            wasm_arg,
            "--grant",
            "storage",
            "--timeout",
            "4",
        ])
    };
    let first = register();
    first.ok();
    assert!(first.stderr.contains("compiling 19."), "{first:#?}");
    assert!(first.stderr.contains("compiled in "), "{first:#?}");
    hcli(&["flavor", "remove", "hostile_python", "--yes"]).ok();
    let second = register();
    second.ok();
    assert_eq!(
        second
            .stderr
            .lines()
            .filter(|l| l.contains("compil"))
            .count(),
        0,
        "{second:#?}"
    );

    hcli(&[
        "secrets-manager",
        "register",
        "h",
        "--flavor",
        "hostile_python",
    ])
    .ok();
    hcli(&["secret", "register", "db_creds", "password=hunter2-host"]).ok();
    home.put_raw(
        "h",
        &[(
            "secrets/stored",
            br#"{"schema":"arbitrary","values":{"k":"v"}}"#,
        )],
    );
    let before = (home.raw_storage("h"), home.raw_storage("default"));
    let unharmed = || {
        assert_eq!((home.raw_storage("h"), home.raw_storage("default")), before);
        let local = hcli(&["secret", "get", "db_creds", "--reveal"]);
        assert!(local.ok().contains("hunter2-host"));
    };

    // Spinning in Python bytecode: stopped at the deadline.
    let line = hcli(&["secret", "get", "stored", "--manager", "h"])
        .fails(3, "sandbox: deadline:")
        .to_string();
    assert!(
        line.contains("get-secret ran past its 4000 ms deadline"),
        "{line}"
    );
    unharmed();

    // Allocating without end: the refused growth stops the call, although
    // Python raised MemoryError and the flavor caught it and answered.
    let line = hcli(&["secret", "register", "big", "k=v", "--manager", "h"])
        .fails(3, "sandbox: memory:")
        .to_string();
    assert!(line.contains("more than the 64 MiB allowed"), "{line}");
    unharmed();

    // 20 MiB of log and stdout: capped, noted once, and the call answers.
    let flood = cli(
        &["--home", &home_arg, "secret", "list", "--manager", "h"],
        &[
            ("FLAVORBOX_CACHE_DIR", cache.path().as_os_str()),
            ("FLAVORBOX_LOG", OsStr::new("flavor=info")),
        ],
        None,
    );
    assert!(
        flood.code == 0,
        "{}",
        flood.stderr.lines().last().unwrap_or_default()
    );
    assert!(flood.stdout.contains("stored"));
    let stderr = &flood.stderr;
    assert!(
        stderr.len() < 200 * 1024,
        "{} bytes of log reached the terminal",
        stderr.len()
    );
    assert_eq!(
        stderr.matches("flavor output truncated").count(),
        1,
        "{stderr}"
    );
    unharmed();
}

#[test]
fn bad_projects_and_missing_tools_are_one_line_exit_2() {
    let parent = tempfile::tempdir().unwrap();
    let at = Some(parent.path());
    // Names that would not make a flavor, crate, module or class.
    for bad in ["My-Vault", "1vault", "a.b", "../escape", ""] {
        cli(&["flavor", "new", bad, "--lang", "python"], &[], at).fails(2, "flavor name");
    }
    // A directory that holds something already is never written into.
    std::fs::create_dir(parent.path().join("taken")).unwrap();
    std::fs::write(parent.path().join("taken/keep.txt"), "mine").unwrap();
    cli(&["flavor", "new", "taken", "--lang", "js"], &[], at).fails(2, "not an empty directory");
    assert_eq!(
        std::fs::read_dir(parent.path().join("taken"))
            .unwrap()
            .count(),
        1
    );
    // Not a project.
    cli(&["flavor", "build", "taken"], &[], at).fails(2, "holds no Cargo.toml, app.py or app.js");
    cli(&["flavor", "build", "nowhere"], &[], at).fails(2, "is not a directory");

    // A missing tool: one line naming it and how to install it.
    cli(&["flavor", "new", "py", "--lang", "python"], &[], at).ok();
    let nowhere = parent.path().join("no-such-tool");
    cli(
        &["flavor", "build", "py"],
        &[("FLAVORBOX_COMPONENTIZE_PY", nowhere.as_os_str())],
        at,
    )
    .fails(2, "componentize-py is not installed (or not on PATH); install it with `pip install componentize-py==0.25.1`");
    cli(&["flavor", "new", "js", "--lang", "js"], &[], at).ok();
    cli(
        &["flavor", "build", "js"],
        &[("FLAVORBOX_COMPONENTIZE_JS", nowhere.as_os_str())],
        at,
    )
    .fails(2, "componentize-js is not installed (or not on PATH); install it with `npm install @bytecodealliance/componentize-js@0.23.0`");
    let empty = parent.path().join("empty-path");
    std::fs::create_dir(&empty).unwrap();
    let js_cli = components::componentize_js();
    cli(
        &["flavor", "build", "js"],
        &[
            ("FLAVORBOX_COMPONENTIZE_JS", js_cli.as_os_str()),
            ("PATH", empty.as_os_str()),
        ],
        at,
    )
    .fails(2, "node is not installed (or not on PATH); install Node.js");
}

#[test]
fn a_python_error_in_the_flavor_shows_the_tool_output_then_one_line() {
    let parent = new_project("broken", "python");
    let app = parent.path().join("broken/app.py");
    let text = std::fs::read_to_string(&app).unwrap();
    // The class forgets an operation: the SDK refuses it at build time.
    let text = text.replace("def delete_secret(", "def delete_secret_typo(");
    std::fs::write(&app, text).unwrap();
    let py = components::componentize_py();
    let out = cli(
        &["flavor", "build", "broken"],
        &[("FLAVORBOX_COMPONENTIZE_PY", py.as_os_str())],
        Some(parent.path()),
    );
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(
        out.stderr
            .contains("Broken does not implement delete_secret"),
        "{out:#?}"
    );
    let last = out.stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("flavorbox: invalid: componentize-py failed"),
        "{out:#?}"
    );
    assert!(!parent.path().join("broken/broken.wasm").exists());
}
