//! The foundation, end to end: the CLI over the sandboxed `local` flavor on
//! the embedded store, a second flavor from a `.wasm`, isolation between
//! managers, atomicity on a trap, user schemas, and (`bad_input.rs`) every
//! kind of bad input refused with one line and nothing written.

mod bad_input;

use flavorbox::sandbox::exports::{GetSecret, RegisterSecret, UpdateSecret};
use flavorbox_tests::conformance::assert_conforms;
use flavorbox_tests::{TestHome, guests};

#[test]
fn a_fresh_home_has_local_and_an_active_default_manager() {
    let home = TestHome::new();
    let flavors = home.cli(&["flavor", "list"]);
    assert!(
        flavors
            .ok()
            .lines()
            .any(|l| l.starts_with("local ") && l.contains("built-in"))
    );
    let managers = home
        .cli(&["secrets-manager", "list", "--output", "json"])
        .json();
    assert_eq!(managers[0]["name"], "default");
    assert_eq!(managers[0]["flavor"], "local");
    assert_eq!(managers[0]["active"], true);
    assert_eq!(managers.as_array().unwrap().len(), 1);
}

#[test]
fn all_six_operations_follow_zenml_semantics_through_the_cli() {
    let home = TestHome::new();
    home.register_secret("db_creds", &["username=admin", "password=hunter2-pw"]);
    home.cli(&["secret", "register", "db_creds", "username=other"])
        .fails(1, "already exists: secret `db_creds` already exists");

    let masked = home.cli(&["secret", "get", "db_creds"]);
    assert!(masked.ok().contains("password  ***"), "{masked:?}");
    assert!(!masked.stdout.contains("hunter2-pw"));
    let secret = home.revealed("db_creds", None);
    assert_eq!(secret["schema"], "arbitrary");
    assert_eq!(secret["values"]["username"], "admin");
    assert_eq!(secret["values"]["password"], "hunter2-pw");

    home.register_secret("api", &["token=t0ken"]);
    assert_eq!(home.secret_names(None), ["api", "db_creds"]);

    // `secret update` merges into the stored values and re-validates.
    home.cli(&[
        "secret",
        "update",
        "db_creds",
        "password=rotated-pw",
        "host=db.local",
    ])
    .ok();
    let secret = home.revealed("db_creds", None);
    assert_eq!(secret["values"]["password"], "rotated-pw");
    assert_eq!(secret["values"]["username"], "admin");
    assert_eq!(secret["values"]["host"], "db.local");

    home.cli(&["secret", "get", "missing"])
        .fails(1, "not found: secret `missing` does not exist");
    home.cli(&["secret", "update", "missing", "k=v"])
        .fails(1, "not found");
    home.cli(&["secret", "delete", "missing", "--yes"])
        .fails(1, "not found");

    home.cli(&["secret", "delete-all"]).fails(2, "pass --force");
    assert_eq!(home.secret_names(None), ["api", "db_creds"]);

    home.delete_secret("api", &["db_creds"]);

    home.cli(&["secret", "delete-all", "--force"]).ok();
    assert!(home.secret_names(None).is_empty());
}

#[test]
fn update_replaces_values_at_the_contract_level() {
    // The WIT `update-secret` replaces; the CLI's merge is built on top.
    let home = TestHome::new();
    let mut suite = flavorbox::conformance::Suite::new(&home.home, "default", "default").unwrap();
    let first = flavorbox::Secret::new(
        "s",
        "arbitrary",
        [("a".into(), "1".into()), ("b".into(), "2".into())],
    )
    .unwrap();
    let second = flavorbox::Secret::new("s", "arbitrary", [("c".into(), "3".into())]).unwrap();
    suite.call(false, &RegisterSecret(&first)).unwrap();
    suite.call(false, &UpdateSecret(&second)).unwrap();
    assert_eq!(suite.call(false, &GetSecret("s")).unwrap(), second);
}

#[test]
fn the_local_flavor_passes_the_conformance_suite() {
    let home = TestHome::new();
    home.home
        .managers()
        .register("second", "local", Default::default(), false)
        .unwrap();
    assert_conforms(&home.home, "default", "second");
}

#[test]
fn two_local_managers_never_see_each_other() {
    let home = TestHome::new();
    home.register_manager("team_b", "local", &[], &[]);
    let b = Some("team_b");
    home.register_secret("shared_name", &["owner=a"]);
    home.register_secret("only_a", &["k=v"]);
    home.register_secret("shared_name", &["owner=b", "--manager", "team_b"]);

    assert_eq!(home.secret_names(None), ["only_a", "shared_name"]);
    assert_eq!(home.secret_names(b), ["shared_name"]);
    home.cli(&["secret", "get", "only_a", "--manager", "team_b"])
        .fails(1, "not found");
    assert_eq!(home.revealed("shared_name", b)["values"]["owner"], "b");
    assert_eq!(home.revealed("shared_name", None)["values"]["owner"], "a");

    home.cli(&["secret", "delete-all", "--force", "--manager", "team_b"])
        .ok();
    assert_eq!(home.secret_names(None), ["only_a", "shared_name"]);

    home.cli(&["secrets-manager", "set-active", "team_b"]).ok();
    assert!(home.secret_names(None).is_empty());
}

#[test]
fn a_second_flavor_registered_from_a_wasm_file_works_through_the_cli() {
    let home = TestHome::new();
    let out = home.register_flavor(guests::KV_JSON, &["--grant", "storage"]);
    assert!(out.ok().contains("registered flavor `kv_json`"), "{out:?}");
    assert!(home.cli(&["flavor", "list"]).ok().contains("kv_json"));
    let described = home.cli(&["flavor", "describe", "kv_json"]);
    assert!(
        described.ok().contains("granted:      storage"),
        "{described:?}"
    );
    assert!(described.stdout.contains("label"), "{described:?}");

    home.register_manager("kv", "kv_json", &[("label", "ci")], &["--set-active"]);
    home.register_secret("token", &["value=abc123"]);
    assert_eq!(home.revealed("token", None)["values"]["value"], "abc123");
    assert_eq!(home.secret_names(None), ["token"]);
    // The default manager on `local` does not see it.
    assert!(home.secret_names(Some("default")).is_empty());

    home.cli(&["flavor", "remove", "kv_json"])
        .fails(1, "used by secrets manager(s) kv");
    home.cli(&["secrets-manager", "set-active", "default"]).ok();
    home.cli(&["secrets-manager", "remove", "kv"])
        .fails(1, "--purge");
    // Destructive: off a terminal they need --yes.
    home.cli(&["secrets-manager", "remove", "kv", "--purge", "--yes"])
        .ok();
    home.cli(&["flavor", "remove", "kv_json", "--yes"]).ok();
    home.cli(&["flavor", "describe", "kv_json"])
        .fails(1, "not registered");
}

#[test]
fn the_kv_json_flavor_passes_the_conformance_suite() {
    let home = TestHome::new();
    home.register_with_storage(guests::KV_JSON, &["a", "b"]);
    assert_conforms(&home.home, "a", "b");
}

#[test]
fn a_guest_that_traps_after_writing_leaves_storage_exactly_as_before() {
    let home = TestHome::new();
    home.cli_register(guests::HOSTILE_PANIC, "h", &[], false);
    home.put_raw(
        "h",
        &[
            (
                "secrets/kept",
                br#"{"schema":"arbitrary","values":[["k","v"]]}"#,
            ),
            (
                "secrets/also_kept",
                br#"{"schema":"arbitrary","values":[["k","w"]]}"#,
            ),
        ],
    );
    home.register_secret("keep_me", &["k=v"]);
    let before = home.raw_storage("h");
    let local_before = home.raw_storage("default");

    home.cli(&["secret", "register", "attack", "k=v", "--manager", "h"])
        .fails(3, "sandbox: trap");

    assert_eq!(home.raw_storage("h"), before);
    assert_eq!(home.raw_storage("default"), local_before);
}

#[test]
fn user_schemas_shape_secrets() {
    let home = TestHome::new();
    let file = home.path().join("schema.json");
    std::fs::write(&file, r#"{"name": "api_key", "description": "An API key.", "required": ["key"], "optional": ["url"]}"#)
        .unwrap();
    home.cli(&["schema", "register", file.to_str().unwrap()])
        .ok();
    assert!(home.cli(&["schema", "list"]).ok().contains("api_key"));
    assert!(
        home.cli(&["schema", "describe", "api_key"])
            .ok()
            .contains("key  required")
    );
    home.register_secret("svc", &["--schema", "api_key", "key=k3y"]);
    home.cli(&[
        "secret", "register", "svc2", "--schema", "api_key", "other=x",
    ])
    .fails(2, "schema `api_key` requires key `key`");
    home.cli(&["secret", "update", "svc", "nope=x"])
        .fails(2, "does not allow key `nope`");
    assert_eq!(home.revealed("svc", None)["schema"], "api_key");
    home.cli(&["schema", "register", file.to_str().unwrap()])
        .fails(1, "already");
    std::fs::write(&file, r#"{"name": "aws", "required": ["x"]}"#).unwrap();
    home.cli(&["schema", "register", file.to_str().unwrap()])
        .fails(2, "built in");
}
