//! Bulk work finishes: 1,000 secrets (seeded through the fake's API in the
//! flavor's layout) listed over two pages and deleted in one command.

use base64::Engine as _;
use serde_json::json;

use crate::{BASE64, PROJECT, api, gcp_home, namespace, secrets_path};

/// Creates `count` secrets `s0000`.. in `namespace` in the flavor's layout
/// through the fake's API (no CLI process per secret), on a few threads.
fn seed(namespace: &str, count: usize) {
    const THREADS: usize = 4;
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            scope.spawn(move || {
                for i in (t..count).step_by(THREADS) {
                    let name = format!("s{i:04}");
                    let id = format!("{namespace}__{name}");
                    api(
                        "POST",
                        &format!("/v1/projects/{PROJECT}/secrets?secretId={id}"),
                        Some(json!({
                            "replication": { "automatic": {} },
                            "labels": {
                                "flavorbox_namespace": namespace,
                                "zenml_schema_name": "arbitrary",
                            },
                            "annotations": {
                                "flavorbox-name": name,
                                "flavorbox-namespace": namespace,
                            },
                        })),
                    );
                    let data = json!({ "k": format!("v{i}"), "zenml_schema_name": "arbitrary" });
                    let data = BASE64.encode(data.to_string());
                    api(
                        "POST",
                        &format!("{}:addVersion", secrets_path(&id)),
                        Some(json!({ "payload": { "data": data } })),
                    );
                }
            });
        }
    });
}

#[test]
fn delete_all_of_1000_secrets_finishes_in_one_command() {
    let ns = namespace("thousand");
    seed(&ns, 1000);
    let home = gcp_home(&ns);
    // Two pages of 500.
    let names = home.secret_names(None);
    assert_eq!(names.len(), 1000);
    assert_eq!((names[0].as_str(), names[999].as_str()), ("s0000", "s0999"));
    assert_eq!(home.revealed("s0999", None)["values"]["k"], "v999");

    let all = home.cli(&["secret", "delete-all", "--force"]);
    assert!(
        all.ok()
            .contains("deleted all 1000 secrets of secrets manager `gcp`"),
        "{all:?}"
    );
    assert!(home.secret_names(None).is_empty());
    let left = api(
        "GET",
        &format!("/v1/projects/{PROJECT}/secrets?filter=labels.flavorbox_namespace%3D%22{ns}%22"),
        None,
    );
    assert_eq!(left, json!({}), "{left}");
}
