//! Bulk work finishes: 1,000 secrets listed (their metadata too) and
//! deleted in one command,
//! and a deletion Vault refuses halfway (or a request cap stops) reports
//! which secrets were and were not deleted.

use flavorbox_tests::openbao::openbao;
use serde_json::json;

use crate::{api, namespace, policy, seed, token_home, token_with, vault_home};

#[test]
fn delete_all_of_1000_secrets_finishes_in_one_command() {
    let ns = namespace("thousand");
    let other = namespace("thousand-other");
    seed(&ns, 1000);
    seed(&other, 2);
    let home = token_home(&ns, &[]);
    let names = home.secret_names(None);
    assert_eq!(names.len(), 1000);
    assert_eq!(names[0], "s0000");
    assert_eq!(names[999], "s0999");
    assert_eq!(home.revealed("s0999", None)["values"]["k"], "v999");
    // Metadata of all of them, past the 32 requests one call may make:
    // asked one secret at a time.
    let long = home
        .cli(&["secret", "list", "--long", "--output", "json"])
        .json();
    assert_eq!(long.as_array().unwrap().len(), 1000);
    assert_eq!(long[999]["name"], "s0999");
    assert_eq!(long[999]["current_version"], 1);

    let all = home.cli(&["secret", "delete-all", "--force"]);
    assert!(
        all.ok()
            .contains("deleted all 1000 secrets of secrets manager `vault`"),
        "{all:?}"
    );
    assert!(home.secret_names(None).is_empty());
    let empty = openbao().api(
        "GET",
        &format!("/v1/secret/metadata/flavorbox/{ns}/?list=true"),
        None,
    );
    assert_eq!(empty.status, 404, "{empty:?}");
    // Another namespace on the same mount is untouched.
    let kept = api(
        "GET",
        &format!("/v1/secret/metadata/flavorbox/{other}/?list=true"),
        None,
    );
    assert_eq!(kept["data"]["keys"], json!(["s0000", "s0001"]));
    for name in ["s0000", "s0001"] {
        api(
            "DELETE",
            &format!("/v1/secret/metadata/flavorbox/{other}/{name}"),
            None,
        );
    }
}

#[test]
fn a_deletion_refused_halfway_reports_what_was_and_was_not_deleted() {
    let ns = namespace("halfway");
    seed(&ns, 15);
    // This token may delete s0000-s0009 only.
    policy(
        "flavorbox-halfway",
        &[
            (&format!("secret/metadata/flavorbox/{ns}"), "\"list\""),
            (&format!("secret/metadata/flavorbox/{ns}/"), "\"list\""),
            (
                &format!("secret/metadata/flavorbox/{ns}/s000*"),
                "\"read\", \"delete\"",
            ),
            (&format!("secret/metadata/flavorbox/{ns}/*"), "\"read\""),
        ],
    );
    let token = token_with("flavorbox-halfway");
    let home = vault_home(&[("token", &token)], &ns, &[]);
    let line = home
        .cli(&["secret", "delete-all", "--force"])
        .fails(
            1,
            "delete-all stopped at secret `s0010`: 10 of 15 secrets deleted, 5 not \
             (`s0010`, `s0011`, `s0012`, `s0013`, `s0014`); deleting it failed with denied: \
             deleting secret `s0010`: HTTP 403: permission denied",
        )
        .to_string();
    assert!(line.starts_with("flavorbox: denied: "), "{line}");
    assert_eq!(
        home.secret_names(None),
        ["s0010", "s0011", "s0012", "s0013", "s0014"]
    );

    // A request cap hit is a sandbox breach (exit 3), reported the same way:
    // here each deletion needs two requests and the manager allows one.
    let capped = token_home(&ns, &["--http-requests", "1"]);
    capped.cli(&["secret", "delete-all", "--force"]).fails(
        3,
        "sandbox: denied: delete-all stopped at secret `s0010`: 0 of 5 secrets deleted, \
             5 not (`s0010`, `s0011`, `s0012`, `s0013`, `s0014`); deleting it failed with \
             denied: more than 1 HTTP requests in one call",
    );
    let listed = capped.cli(&["secrets-manager", "list"]);
    assert!(listed.ok().contains("(http-requests 1)"), "{listed:?}");
    capped
        .cli(&[
            "secrets-manager",
            "register",
            "x",
            "--flavor",
            "vault",
            "--http-requests",
            "0",
        ])
        .fails(2, "--http-requests must be 1-10000, not 0");

    let root = token_home(&ns, &[]);
    root.cli(&["secret", "delete-all", "--force"]).ok();
    assert!(root.secret_names(None).is_empty());
}
