//! A secret's history through the CLI on a Python or JavaScript flavor that
//! implements only ZenML's six methods: the versions, soft delete and
//! restore the SDK keeps for it in its storage, walked the way an operator
//! does (`secret history`, `get --version`, `rollback`, `delete`,
//! `restore`, `update --if-version`).
//!
//! Guards against an SDK whose defaults only look like history: every step
//! reads back what it wrote (values of old versions, version numbers and
//! states, times that never go back), and a stale check-and-set is shown
//! to have written nothing.

use flavorbox_tests::history::{history, states};
use flavorbox_tests::{Run, TestHome};

/// The password of version `version` of `db` (the current one if `None`).
fn password(home: &TestHome, version: Option<&str>) -> String {
    home.secret_value("db", "password", version)
}

/// `secret update db password=PASSWORD --if-version VERSION`.
fn update_if(home: &TestHome, password: &str, version: &str) -> Run {
    let password = format!("password={password}");
    home.cli(&["secret", "update", "db", &password, "--if-version", version])
}

fn versions(pairs: &[(u64, &str)]) -> Vec<(u64, String)> {
    pairs.iter().map(|(n, s)| (*n, s.to_string())).collect()
}

/// Walks a secret `db` of the active manager of `home` through its
/// history; leaves it purged.
pub fn walks_history(home: &TestHome) {
    home.register_secret("db", &["user=app", "password=one"]);
    home.cli(&["secret", "update", "db", "password=two"]).ok();
    home.cli(&["secret", "update", "db", "user=app", "password=three"])
        .ok();

    let three = history(home, "db");
    assert_eq!(
        states(&three),
        versions(&[(1, "previous"), (2, "previous"), (3, "current")]),
        "{three}"
    );
    let times: Vec<u64> = three["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["created"].as_u64().expect("a version's time"))
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{three}");
    // Written in this run: after 2020-01-01, in milliseconds.
    assert!(times[0] > 1_577_836_800_000, "{three}");
    let meta = &three["metadata"];
    assert_eq!(meta["current_version"], 3, "{meta}");
    assert_eq!(meta["created"].as_u64(), Some(times[0]), "{meta}");
    assert!(meta["updated"].as_u64() >= Some(times[2]), "{meta}");
    let table = home.cli(&["secret", "history", "db"]).ok().to_string();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines[0], "secret: db (schema arbitrary), version 3",
        "{table}"
    );
    assert!(lines[3].starts_with("1        previous  20"), "{table}");
    assert!(lines[5].starts_with("3        current   20"), "{table}");

    assert_eq!(password(home, Some("1")), "one");
    assert_eq!(password(home, Some("2")), "two");
    assert_eq!(password(home, None), "three");

    let rolled = home.cli(&["secret", "rollback", "db", "--to", "1"]);
    assert_eq!(
        rolled.ok(),
        "rolled back secret `db` to version 1's values, as version 4\n"
    );
    assert_eq!(password(home, None), "one");
    assert_eq!(password(home, Some("3")), "three");

    // Soft delete hides it and keeps its history; restore brings it back.
    home.cli(&["secret", "delete", "db", "--yes"]).ok();
    assert!(!home.secret_names(None).contains(&"db".to_string()));
    home.cli(&["secret", "get", "db"]).fails(1, "db");
    let deleted = history(home, "db");
    assert_eq!(deleted["metadata"]["deleted"], true, "{deleted}");
    assert_eq!(states(&deleted)[3], (4, "deleted".to_string()));
    home.cli(&["secret", "register", "db", "password=x"])
        .fails(1, "already exists");
    assert_eq!(
        home.cli(&["secret", "restore", "db"]).ok(),
        "restored secret `db`\n"
    );
    assert_eq!(password(home, None), "one");
    assert_eq!(password(home, Some("2")), "two");
    assert_eq!(states(&history(home, "db"))[3], (4, "current".to_string()));
    home.cli(&["secret", "restore", "db"])
        .fails(2, "`db` is not deleted");

    // A writer that read version 3 is refused now that it is at 4.
    let line = update_if(home, "late", "3")
        .fails(1, "conflict")
        .to_string();
    assert!(line.contains("is at version 4, not 3"), "{line}");
    assert_eq!(password(home, None), "one");
    assert_eq!(states(&history(home, "db")).len(), 4);
    let updated = update_if(home, "five", "4");
    assert!(
        updated.ok().contains("from version 4 to version 5"),
        "{updated:?}"
    );

    home.cli(&["secret", "delete", "db", "--purge", "--yes"])
        .ok();
    home.cli(&["secret", "history", "db"]).fails(1, "db");
}
