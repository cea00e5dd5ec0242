//! Tokens on both backends: found by hash, revoked once, made only for a
//! secrets manager that exists, bound to that manager's id and revoked when
//! it is removed, so a new manager that takes a removed one's name is not
//! opened by the old manager's tokens; a token keeps its name, and its
//! last use only moves forward.

use flavorbox::ErrorKind;
use flavorbox::store::{
    AccessStore, Database, ManagerRecord, Role, TokenRecord, TokenState, TxnMode,
};

use crate::{Place, add_manager, fails};

on_both_backends!(
    tokens_are_found_by_hash_and_revoked_once,
    a_token_is_made_only_for_a_manager_that_exists,
    removing_a_manager_revokes_its_tokens_and_a_namesake_is_not_theirs,
    a_refused_removal_revokes_nothing,
    a_token_is_active_expired_or_revoked,
    a_token_keeps_its_name_and_its_last_use_only_moves_forward,
);

/// A token for `manager` with `role`, made at 1,000 and never expiring.
fn token_for(manager: &ManagerRecord, id: &str, role: Role) -> TokenRecord {
    TokenRecord {
        id: id.to_string(),
        manager_id: Some(manager.id),
        manager: manager.name.clone(),
        role,
        created_ms: 1_000,
        expires_ms: None,
        revoked_ms: None,
        name: None,
        last_used_ms: None,
    }
}

fn manager(db: &dyn Database, name: &str) -> ManagerRecord {
    db.manager(name).unwrap().expect("the manager exists")
}

/// Stores one entry in the namespace of the manager `id`.
fn store_an_entry(db: &dyn Database, id: i64) {
    let mut txn = db.namespace(id, TxnMode::Write).unwrap();
    txn.set("secrets/s", b"v").unwrap();
    txn.commit().unwrap();
}

fn stored(access: &dyn AccessStore, sha256: &str) -> TokenRecord {
    access
        .token_by_hash(sha256)
        .unwrap()
        .expect("the token is stored")
}

fn tokens_are_found_by_hash_and_revoked_once(place: &Place) {
    let opened = place.open();
    let access = opened.access;
    let default = manager(&*opened.db, "default");
    let expiring = |id: &str, role| TokenRecord {
        expires_ms: Some(5_000),
        ..token_for(&default, id, role)
    };
    access
        .insert_token(&expiring("a", Role::Read), "h1")
        .unwrap();
    access
        .insert_token(&expiring("b", Role::Admin), "h2")
        .unwrap();
    let duplicate = access.insert_token(&expiring("c", Role::Read), "h1");
    assert_eq!(duplicate.unwrap_err().kind(), ErrorKind::Host);
    let found = stored(&*access, "h2");
    assert_eq!(found, expiring("b", Role::Admin));
    assert!(found.valid_at(4_999) && !found.valid_at(5_000));
    assert_eq!(access.token_by_hash("nope").unwrap(), None);
    access.revoke_token("a", 2_000).unwrap();
    access.revoke_token("a", 3_000).unwrap();
    let a = stored(&*access, "h1");
    assert_eq!(a.revoked_ms, Some(2_000), "the first revocation stays");
    assert!(!a.valid_at(1_500));
    fails(
        access.revoke_token("zzz", 1),
        ErrorKind::NotFound,
        "token `zzz` does not exist",
    );
    let ids: Vec<String> = access.tokens().unwrap().into_iter().map(|t| t.id).collect();
    assert_eq!(ids, ["a", "b"]);
}

fn a_token_is_made_only_for_a_manager_that_exists(place: &Place) {
    let opened = place.open();
    let (db, access) = (opened.db, opened.access);
    add_manager(&*db, "team-a", "local");
    let removed = manager(&*db, "team-a");
    db.remove_manager("team-a", false).unwrap();
    add_manager(&*db, "team-a", "local");
    let namesake = manager(&*db, "team-a");
    let default = manager(&*db, "default");
    let refused = [
        // The removed manager, by its id: its namesake has another.
        token_for(&removed, "t1", Role::Admin),
        // An id and a name of two different managers.
        TokenRecord {
            manager: "default".to_string(),
            ..token_for(&namesake, "t2", Role::Admin)
        },
        TokenRecord {
            manager: "nobody".to_string(),
            ..token_for(&default, "t3", Role::Read)
        },
        // No manager at all.
        TokenRecord {
            manager_id: None,
            ..token_for(&default, "t4", Role::Read)
        },
    ];
    for (i, token) in refused.iter().enumerate() {
        fails(
            access.insert_token(token, &format!("h{i}")),
            ErrorKind::NotFound,
            &format!("secrets manager `{}` does not exist", token.manager),
        );
    }
    assert_eq!(access.tokens().unwrap(), [], "nothing was stored");
    access
        .insert_token(&token_for(&namesake, "t5", Role::Admin), "h5")
        .unwrap();
    assert_eq!(stored(&*access, "h5").manager_id, Some(namesake.id));
}

fn removing_a_manager_revokes_its_tokens_and_a_namesake_is_not_theirs(place: &Place) {
    let opened = place.open();
    let (db, access) = (opened.db, opened.access);
    add_manager(&*db, "team-a", "local");
    let old = manager(&*db, "team-a");
    let default = manager(&*db, "default");
    access
        .insert_token(&token_for(&old, "old-admin", Role::Admin), "h-old")
        .unwrap();
    access
        .insert_token(&token_for(&old, "old-read", Role::Read), "h-revoked")
        .unwrap();
    access.revoke_token("old-read", 7).unwrap();
    access
        .insert_token(&token_for(&default, "other", Role::Admin), "h-other")
        .unwrap();
    // The manager still stores an entry: removed with --purge.
    store_an_entry(&*db, old.id);

    let before = now_ms();
    db.remove_manager("team-a", true).unwrap();
    let after = now_ms();
    add_manager(&*db, "team-a", "local");
    let namesake = manager(&*db, "team-a");
    assert_ne!(namesake.id, old.id, "an id is never reused");

    let revoked = stored(&*access, "h-old");
    assert_eq!(
        revoked.manager_id,
        Some(old.id),
        "still bound to the old id"
    );
    assert_eq!(revoked.state_at(after), TokenState::Revoked);
    let at = revoked.revoked_ms.expect("revoked with its manager");
    assert!(
        (before..=after).contains(&at),
        "{before} <= {at} <= {after}"
    );
    assert_eq!(
        stored(&*access, "h-revoked").revoked_ms,
        Some(7),
        "a token revoked before keeps its first time"
    );
    let other = stored(&*access, "h-other");
    assert_eq!(
        other.state_at(after),
        TokenState::Active,
        "other managers' tokens stay"
    );
    // The namesake's tokens are its own.
    access
        .insert_token(&token_for(&namesake, "new-admin", Role::Admin), "h-new")
        .unwrap();
    let new = stored(&*access, "h-new");
    assert_eq!(new.manager_id, Some(namesake.id));
    assert!(new.valid_at(after));
    let listed: Vec<(String, Option<i64>, TokenState)> = access
        .tokens()
        .unwrap()
        .into_iter()
        .map(|t| (t.id.clone(), t.manager_id, t.state_at(after)))
        .collect();
    assert_eq!(
        listed,
        [
            (
                "new-admin".to_string(),
                Some(namesake.id),
                TokenState::Active
            ),
            ("old-admin".to_string(), Some(old.id), TokenState::Revoked),
            ("old-read".to_string(), Some(old.id), TokenState::Revoked),
            ("other".to_string(), Some(default.id), TokenState::Active),
        ]
    );
}

fn a_refused_removal_revokes_nothing(place: &Place) {
    let opened = place.open();
    let (db, access) = (opened.db, opened.access);
    add_manager(&*db, "full", "local");
    let full = manager(&*db, "full");
    let default = manager(&*db, "default");
    access
        .insert_token(&token_for(&default, "active", Role::Admin), "h1")
        .unwrap();
    access
        .insert_token(&token_for(&full, "full", Role::Admin), "h2")
        .unwrap();
    store_an_entry(&*db, full.id);
    let refused = db.remove_manager("default", true).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Denied);
    let refused = db.remove_manager("full", false).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Denied);
    for hash in ["h1", "h2"] {
        assert_eq!(stored(&*access, hash).revoked_ms, None, "{hash}");
    }
}

fn a_token_is_active_expired_or_revoked(place: &Place) {
    let opened = place.open();
    let access = opened.access;
    let default = manager(&*opened.db, "default");
    let expiring = TokenRecord {
        expires_ms: Some(5_000),
        ..token_for(&default, "e", Role::Read)
    };
    access.insert_token(&expiring, "h1").unwrap();
    let token = stored(&*access, "h1");
    assert_eq!(token.state_at(4_999), TokenState::Active);
    assert_eq!(token.state_at(5_000), TokenState::Expired);
    access.revoke_token("e", 2_000).unwrap();
    let token = stored(&*access, "h1");
    assert_eq!(token.state_at(1_000), TokenState::Revoked);
    assert_eq!(
        token.state_at(6_000),
        TokenState::Revoked,
        "revoked wins over expired"
    );
    let names: Vec<&str> = [TokenState::Active, TokenState::Expired, TokenState::Revoked]
        .iter()
        .map(|s| s.as_str())
        .collect();
    assert_eq!(names, ["active", "expired", "revoked"]);
}

fn a_token_keeps_its_name_and_its_last_use_only_moves_forward(place: &Place) {
    let opened = place.open();
    let access = opened.access;
    let default = manager(&*opened.db, "default");
    let named = TokenRecord {
        name: Some("deploy-bot".to_string()),
        ..token_for(&default, "n", Role::Write)
    };
    access.insert_token(&named, "h1").unwrap();
    assert_eq!(stored(&*access, "h1"), named);
    access.token_used("n", 3_000).unwrap();
    // Another node's older use does not move it back.
    access.token_used("n", 2_000).unwrap();
    let used = stored(&*access, "h1");
    assert_eq!(
        (used.name.as_deref(), used.last_used_ms),
        (Some("deploy-bot"), Some(3_000))
    );
    access.token_used("n", 4_000).unwrap();
    assert_eq!(stored(&*access, "h1").last_used_ms, Some(4_000));
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}
