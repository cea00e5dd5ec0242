//! Contract 0.1 and 0.2 side by side: a 0.2 flavor (`kv_versions`)
//! registers, is asked `validate-config` at registration, and answers every
//! 0.2 export through the library's typed calls and the CLI's 0.1-era
//! commands; a 0.1 flavor asked for history gets one clear `invalid`
//! error; `evaluate` reports each component's contract version.
//!
//! Guards against a second contract version breaking the first, and
//! against a 0.1 flavor failing oddly when asked what it cannot do.

use flavorbox::ErrorKind;
use flavorbox::contract::ContractVersion;
use flavorbox::contract::history::{Labels, VersionState};
use flavorbox::sandbox::exports::{
    DeleteSecret, DestroyVersions, GetMetadata, GetSecretVersion, ListSecrets, ListVersions,
    PurgeSecret, RestoreSecret, SetLabels, UpdateSecretIf,
};
use flavorbox::{Secret, evaluate::EvaluateOptions};
use flavorbox_tests::guests;
use flavorbox_tests::home::TestHome;

fn secret(value: &str) -> Secret {
    Secret::new(
        "db",
        "arbitrary",
        [("password".to_string(), value.to_string())],
    )
    .unwrap()
}

#[test]
fn each_flavor_is_recorded_and_evaluated_with_its_contract_version() {
    let home = TestHome::new();
    home.register_with_storage(guests::KV_VERSIONS, &["v"]);
    home.register_with_storage(guests::KV_JSON, &["j"]);
    for (flavor, contract) in [
        ("kv_versions", ContractVersion::V0_2),
        ("kv_json", ContractVersion::V0_1),
    ] {
        let entry = home.home.flavors().get(flavor).unwrap();
        assert_eq!(entry.description.contract, contract, "{flavor}");
    }
    for (guest, package) in [
        (guests::KV_VERSIONS, "flavorbox:secrets@0.2.0"),
        (guests::LOCAL, "flavorbox:secrets@0.2.0"),
        (guests::KV_JSON, "flavorbox:secrets@0.1.0"),
    ] {
        let evaluation =
            flavorbox::evaluate::evaluate(&guest.path(), &EvaluateOptions::default()).unwrap();
        assert_eq!(evaluation.contract, Some(package), "{}", guest.name());
    }
}

#[test]
fn a_0_2_flavor_keeps_history_through_every_export() {
    let home = TestHome::new();
    home.cli_register(guests::KV_VERSIONS, "v", &[], true);
    // The 0.1-era commands work on it unchanged.
    home.register_secret("db", &["password=one"]);
    home.cli(&["secret", "update", "db", "password=two"]).ok();
    assert_eq!(home.revealed("db", None)["values"]["password"], "two");

    let m = Some("v");
    let history = home.call(m, &ListVersions("db")).result.unwrap();
    assert_eq!(history.metadata.current_version, 2);
    let states: Vec<_> = history
        .versions
        .iter()
        .map(|v| (v.version, v.state))
        .collect();
    assert_eq!(
        states,
        [(1, VersionState::Previous), (2, VersionState::Current)]
    );
    let first = home.call(
        m,
        &GetSecretVersion {
            name: "db",
            version: 1,
        },
    );
    assert_eq!(first.result.unwrap().values()["password"], "one");

    // Check-and-set: a stale version is a conflict and writes nothing.
    let stale = home.call(
        m,
        &UpdateSecretIf {
            secret: &secret("three"),
            expected: Some(1),
        },
    );
    assert!(stale.result.unwrap_err().is(ErrorKind::Conflict));
    let fresh = home.call(
        m,
        &UpdateSecretIf {
            secret: &secret("three"),
            expected: Some(2),
        },
    );
    assert_eq!(fresh.result.unwrap(), 3);

    let labels = Labels::new(vec![("team".into(), "data".into())]).unwrap();
    home.call(
        m,
        &SetLabels {
            name: "db",
            labels: &labels,
        },
    )
    .result
    .unwrap();
    let meta = home.call(m, &GetMetadata("db")).result.unwrap();
    assert_eq!(meta.labels, labels);
    assert!(meta.created <= meta.updated);

    home.call(m, &DestroyVersions::new("db", [1]).unwrap())
        .result
        .unwrap();
    let gone = home.call(
        m,
        &GetSecretVersion {
            name: "db",
            version: 1,
        },
    );
    assert!(gone.result.unwrap_err().is(ErrorKind::NotFound));

    // The CLI's delete is a soft delete on a 0.2 flavor: restorable.
    home.call(m, &DeleteSecret("db")).result.unwrap();
    assert!(home.secret_names(None).is_empty());
    let listed = home
        .call(
            m,
            &ListSecrets {
                include_deleted: true,
            },
        )
        .result
        .unwrap();
    assert!(listed[0].deleted);
    home.call(m, &RestoreSecret("db")).result.unwrap();
    assert_eq!(home.revealed("db", None)["values"]["password"], "three");
    home.call(m, &PurgeSecret("db")).result.unwrap();
    let purged = home.call(m, &ListVersions("db"));
    assert!(purged.result.unwrap_err().is(ErrorKind::NotFound));
}

#[test]
fn registration_asks_a_0_2_flavor_to_validate_its_config() {
    let home = TestHome::new();
    home.register_flavor(guests::KV_VERSIONS, &["--grant", "storage"])
        .ok();
    let refused = home.cli(&[
        "secrets-manager",
        "register",
        "bad",
        "--flavor",
        "kv_versions",
        "--config",
        "keep=0",
    ]);
    refused.fails(2, "`keep` must be a positive integer");
    home.register_manager("good", "kv_versions", &[("keep", "3")], &[]);
}

#[test]
fn a_0_1_flavor_asked_for_history_says_it_keeps_none() {
    let home = TestHome::new();
    home.cli_register(guests::KV_JSON, "j", &[], true);
    home.register_secret("db", &["password=one"]);
    let err = home
        .call(Some("j"), &ListVersions("db"))
        .result
        .unwrap_err();
    assert!(err.is(ErrorKind::Invalid), "{err}");
    let text = err.to_string();
    assert!(text.contains("flavorbox:secrets@0.1.0"), "{text}");
    assert!(text.contains("no history"), "{text}");
    // Its secrets are untouched, and its delete stays final.
    home.call(Some("j"), &DeleteSecret("db")).result.unwrap();
    assert!(home.secret_names(None).is_empty());
}
