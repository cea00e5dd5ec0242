//! Contract 0.2 on OpenBao: the `vault` flavor's history is KV version 2's
//! own (versions, `cas`, delete/undelete/destroy, `custom_metadata`), seen
//! both through the library's typed exports and through Vault's API.
//!
//! Guards against the flavor keeping a history of its own beside Vault's
//! (each test checks what Vault itself recorded), a stale write landing, a
//! soft delete losing data or a restore losing labels, and metadata times
//! going backwards.

use flavorbox::contract::history::{Labels, VersionState};
use flavorbox::sandbox::exports::{
    DeleteSecret, DestroyVersions, GetMetadata, GetSecretVersion, ListSecrets, ListVersions,
    PurgeSecret, RegisterSecret, RestoreSecret, SetLabels, UpdateSecretIf,
};
use flavorbox::{ErrorKind, Secret};
use flavorbox_tests::TestHome;
use flavorbox_tests::history::assert_updated_never_goes_backwards;
use serde_json::{Value, json};

use super::{api, namespace, token_home};

fn secret(value: &str) -> Secret {
    Secret::new(
        "db",
        "arbitrary",
        [("password".to_string(), value.to_string())],
    )
    .unwrap()
}

/// A home on a fresh namespace holding secret `db` at version 1
/// (`password=one`), and the namespace.
fn home_with_db(test: &str) -> (TestHome, String) {
    let ns = namespace(test);
    let home = token_home(&ns, &[]);
    home.register_secret("db", &["password=one"]);
    (home, ns)
}

/// Vault's own metadata of `name` in namespace `ns`.
fn vault_metadata(ns: &str, name: &str) -> Value {
    api(
        "GET",
        &format!("/v1/secret/metadata/flavorbox/{ns}/{name}"),
        None,
    )["data"]
        .clone()
}

fn update(home: &TestHome, value: &str, expected: Option<u64>) -> flavorbox::Result<u64> {
    home.call(
        None,
        &UpdateSecretIf {
            secret: &secret(value),
            expected,
        },
    )
    .result
}

fn read_version(home: &TestHome, version: u64) -> flavorbox::Result<String> {
    let got = home.call(
        None,
        &GetSecretVersion {
            name: "db",
            version,
        },
    );
    got.result.map(|s| s.values()["password"].clone())
}

fn set_labels(home: &TestHome, labels: &Labels) -> flavorbox::Result<()> {
    home.call(None, &SetLabels { name: "db", labels }).result
}

fn states(home: &TestHome) -> Vec<(u64, VersionState)> {
    let history = home.call(None, &ListVersions("db")).result.unwrap();
    history
        .versions
        .iter()
        .map(|v| (v.version, v.state))
        .collect()
}

#[test]
fn updates_are_kv_versions_readable_by_number_with_their_times() {
    let (home, ns) = home_with_db("history");
    home.cli(&["secret", "update", "db", "password=two"]).ok();
    assert_eq!(update(&home, "three", None).unwrap(), 3);

    let history = home.call(None, &ListVersions("db")).result.unwrap();
    assert_eq!(history.metadata.current_version, 3);
    assert_eq!(history.metadata.schema, "arbitrary");
    assert!(!history.metadata.deleted);
    let listed: Vec<_> = history
        .versions
        .iter()
        .map(|v| (v.version, v.state, v.author.clone()))
        .collect();
    assert_eq!(
        listed,
        [
            (1, VersionState::Previous, None),
            (2, VersionState::Previous, None),
            (3, VersionState::Current, None),
        ]
    );
    let times: Vec<u64> = history.versions.iter().map(|v| v.created).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    assert!(history.metadata.created <= times[0] && times[2] <= history.metadata.updated);

    // Vault's own record says the same.
    let vault = vault_metadata(&ns, "db");
    assert_eq!(vault["current_version"], 3);
    assert_eq!(vault["versions"].as_object().unwrap().len(), 3);

    assert_eq!(read_version(&home, 1).unwrap(), "one");
    assert_eq!(read_version(&home, 2).unwrap(), "two");
    assert_eq!(home.revealed("db", None)["values"]["password"], "three");
    assert!(read_version(&home, 4).unwrap_err().is(ErrorKind::NotFound));
}

#[test]
fn a_secret_written_before_contract_0_2_reads_as_its_kv_history() {
    let ns = namespace("legacy");
    let home = token_home(&ns, &[]);
    // The layout the 0.1 flavor (and ZenML) writes, twice.
    for value in ["old", "new"] {
        api(
            "POST",
            &format!("/v1/secret/data/flavorbox/{ns}/db"),
            Some(json!({ "data": { "password": value, "zenml_schema_name": "basic_auth" } })),
        );
    }
    assert_eq!(
        states(&home),
        [(1, VersionState::Previous), (2, VersionState::Current)]
    );
    assert_eq!(read_version(&home, 1).unwrap(), "old");
    let meta = home.call(None, &GetMetadata("db")).result.unwrap();
    assert_eq!(
        (meta.schema.as_str(), meta.current_version),
        ("basic_auth", 2)
    );
}

#[test]
fn a_stale_expected_version_is_a_conflict_and_writes_nothing() {
    let (home, ns) = home_with_db("cas");
    assert_eq!(update(&home, "two", Some(1)).unwrap(), 2);
    let stale = update(&home, "lost", Some(1)).unwrap_err();
    assert!(stale.is(ErrorKind::Conflict), "{stale}");
    assert_eq!(vault_metadata(&ns, "db")["current_version"], 2);
    assert_eq!(home.revealed("db", None)["values"]["password"], "two");
    assert_eq!(update(&home, "three", Some(2)).unwrap(), 3);
    // A version the secret never had is a conflict too, not a creation.
    assert!(
        update(&home, "x", Some(9))
            .unwrap_err()
            .is(ErrorKind::Conflict)
    );
    assert_eq!(vault_metadata(&ns, "db")["current_version"], 3);
}

#[test]
fn a_soft_delete_is_kv_delete_and_restore_is_undelete() {
    let (home, ns) = home_with_db("soft-delete");
    update(&home, "two", None).unwrap();
    let labels = Labels::new(vec![("team".into(), "data".into())]).unwrap();
    set_labels(&home, &labels).unwrap();

    home.call(None, &DeleteSecret("db")).result.unwrap();
    // Vault keeps every version; the head is marked deleted.
    let vault = vault_metadata(&ns, "db");
    assert_eq!(vault["current_version"], 2);
    assert_ne!(vault["versions"]["2"]["deletion_time"], "");
    assert_eq!(vault["versions"]["1"]["deletion_time"], "");

    assert!(home.secret_names(None).is_empty());
    home.cli(&["secret", "get", "db"]).fails(1, "not found");
    assert!(read_version(&home, 1).unwrap_err().is(ErrorKind::NotFound));
    assert!(
        update(&home, "x", None)
            .unwrap_err()
            .is(ErrorKind::NotFound)
    );
    assert!(
        update(&home, "x", Some(2))
            .unwrap_err()
            .is(ErrorKind::NotFound)
    );
    assert!(
        set_labels(&home, &labels)
            .unwrap_err()
            .is(ErrorKind::NotFound)
    );
    let again = home.call(None, &RegisterSecret(&secret("x")));
    assert!(again.result.unwrap_err().is(ErrorKind::AlreadyExists));
    assert!(
        home.call(None, &DeleteSecret("db"))
            .result
            .unwrap_err()
            .is(ErrorKind::NotFound)
    );
    assert_eq!(
        states(&home),
        [(1, VersionState::Previous), (2, VersionState::Deleted)]
    );
    let listed = home
        .call(
            None,
            &ListSecrets {
                include_deleted: true,
            },
        )
        .result
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].deleted);
    assert_eq!(listed[0].labels, labels);
    let live = home.call(
        None,
        &ListSecrets {
            include_deleted: false,
        },
    );
    assert!(live.result.unwrap().is_empty());

    home.call(None, &RestoreSecret("db")).result.unwrap();
    assert_eq!(home.revealed("db", None)["values"]["password"], "two");
    assert_eq!(
        states(&home),
        [(1, VersionState::Previous), (2, VersionState::Current)]
    );
    let meta = home.call(None, &GetMetadata("db")).result.unwrap();
    assert_eq!(meta.labels, labels);
    let twice = home.call(None, &RestoreSecret("db"));
    assert!(twice.result.unwrap_err().is(ErrorKind::Invalid));

    home.call(None, &PurgeSecret("db")).result.unwrap();
    let gone = flavorbox_tests::openbao::openbao().api(
        "GET",
        &format!("/v1/secret/metadata/flavorbox/{ns}/db"),
        None,
    );
    assert_eq!(gone.status, 404, "{gone:?}");
    let history = home.call(None, &ListVersions("db"));
    assert!(history.result.unwrap_err().is(ErrorKind::NotFound));
    // Registering the name again starts over at version 1.
    home.register_secret("db", &["password=fresh"]);
    assert_eq!(states(&home), [(1, VersionState::Current)]);
}

#[test]
fn destroyed_versions_stay_listed_without_their_values() {
    let (home, ns) = home_with_db("destroy");
    update(&home, "two", None).unwrap();
    update(&home, "three", None).unwrap();
    home.call(None, &DestroyVersions::new("db", [1]).unwrap())
        .result
        .unwrap();
    assert_eq!(
        vault_metadata(&ns, "db")["versions"]["1"]["destroyed"],
        true
    );
    assert!(read_version(&home, 1).unwrap_err().is(ErrorKind::NotFound));
    assert_eq!(read_version(&home, 2).unwrap(), "two");
    assert_eq!(
        states(&home),
        [
            (1, VersionState::Destroyed),
            (2, VersionState::Previous),
            (3, VersionState::Current)
        ]
    );
    // Destroyed already: no error. The current version or one the secret
    // never had: refused, nothing destroyed.
    home.call(None, &DestroyVersions::new("db", [1]).unwrap())
        .result
        .unwrap();
    for refused in [[2, 3], [2, 7]] {
        let err = home
            .call(None, &DestroyVersions::new("db", refused).unwrap())
            .result
            .unwrap_err();
        assert!(err.is(ErrorKind::Invalid), "{refused:?}: {err}");
    }
    assert_eq!(
        vault_metadata(&ns, "db")["versions"]["2"]["destroyed"],
        false
    );
    assert_eq!(home.revealed("db", None)["values"]["password"], "three");
}

#[test]
fn labels_are_the_secrets_custom_metadata() {
    let (home, ns) = home_with_db("labels");
    let labels = Labels::new(vec![
        ("team".into(), "data".into()),
        ("tier".into(), "gold plated".into()),
    ])
    .unwrap();
    set_labels(&home, &labels).unwrap();
    assert_eq!(
        vault_metadata(&ns, "db")["custom_metadata"],
        json!({ "team": "data", "tier": "gold plated" })
    );
    // Labels are on the secret, not a version: an update keeps them and
    // setting them writes no version.
    update(&home, "two", None).unwrap();
    let meta = home.call(None, &GetMetadata("db")).result.unwrap();
    assert_eq!((meta.labels.clone(), meta.current_version), (labels, 2));

    let none = Labels::new(Vec::new()).unwrap();
    set_labels(&home, &none).unwrap();
    let meta = home.call(None, &GetMetadata("db")).result.unwrap();
    assert_eq!(meta.labels, none);
    // A label another tool set that flavorbox cannot carry is left out.
    api(
        "POST",
        &format!("/v1/secret/metadata/flavorbox/{ns}/db"),
        Some(json!({ "custom_metadata": { "owner email": "x", "ok": "y" } })),
    );
    let meta = home.call(None, &GetMetadata("db")).result.unwrap();
    assert_eq!(meta.labels.pairs(), &[("ok".to_string(), "y".to_string())]);
}

#[test]
fn metadata_times_never_go_backwards() {
    let (home, _) = home_with_db("times");
    let labels = Labels::new(vec![("a".into(), "b".into())]).unwrap();
    let steps: [(&str, &dyn Fn()); 6] = [
        ("update", &|| {
            assert_eq!(update(&home, "two", None).unwrap(), 2)
        }),
        ("update", &|| {
            assert_eq!(update(&home, "three", Some(2)).unwrap(), 3)
        }),
        ("labels", &|| set_labels(&home, &labels).unwrap()),
        ("destroy", &|| {
            let destroy = DestroyVersions::new("db", [1]).unwrap();
            home.call(None, &destroy).result.unwrap()
        }),
        ("delete", &|| {
            home.call(None, &DeleteSecret("db")).result.unwrap()
        }),
        ("restore", &|| {
            home.call(None, &RestoreSecret("db")).result.unwrap()
        }),
    ];
    let pause = std::time::Duration::from_millis(5);
    let (first, last) = assert_updated_never_goes_backwards(&home, "db", pause, &steps);
    assert!(last > first);
}
