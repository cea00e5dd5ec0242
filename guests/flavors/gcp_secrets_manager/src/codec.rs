//! How a flavorbox secret is laid out in GCP Secret Manager, which stores
//! one opaque payload per secret and names secrets more narrowly than
//! flavorbox does.
//!
//! * **One GCP secret per flavorbox secret**, its latest version's payload
//!   the JSON of the key-values plus `zenml_schema_name` (ZenML's flat
//!   layout). A payload past GCP's 64 KiB is stored gzip-compressed (a JSON
//!   text never starts with gzip's magic bytes, so reading needs no flag).
//! * **The secret id** must be `[A-Za-z0-9_-]{1,255}`; flavorbox names are
//!   `[A-Za-z0-9_.-]{1,128}`. The id escapes `_` as `_u` and `.` as `_d`
//!   (case and `-` stay: ids are case-sensitive), and prefixes the escaped
//!   namespace and `__` (an escaped text never holds `__`, since each `_`
//!   it holds is followed by `u` or `d`). That is injective and readable in
//!   the console. When it would pass 255 characters (a long namespace and a
//!   long name full of dots), the name part becomes `_h` and the SHA-256 of
//!   the name in hex: an escaped name starts with a letter or digit, so the
//!   two forms never meet.
//! * **Labels** (values only `[a-z0-9_-]{0,63}`) are lossy, for filtering
//!   and the console: `flavorbox_namespace` (the namespace folded to label
//!   characters, or `_none`) and `zenml_schema_name` (likewise).
//! * **Annotations** hold the exact truth: `flavorbox-name` and
//!   `flavorbox-namespace`. A listed secret is ours only if its annotations
//!   name this namespace and a valid name whose id is the secret's own id,
//!   so a folded label that collides, a foreign secret, or a forged
//!   annotation never shows up as one of ours.
//!
//! Guards against: names escaping their namespace or colliding after
//! encoding (tested below: dots, `_` next to `.`, case, 128 characters,
//! leading digits); guessing at data we did not write (a payload that is
//! not such a JSON object is a `backend` error naming the secret, never its
//! content: `flavor_kit::zenml`); a hostile payload inflating without bound
//! (decompression stops at `MAX_INFLATED`).

use std::io::{Read, Write};

use flavor_kit::names;
use flavor_kit::zenml::{self, SCHEMA_KEY, Stored};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::{Error, Secret};

pub const NAMESPACE_LABEL: &str = "flavorbox_namespace";
pub const NAME_ANNOTATION: &str = "flavorbox-name";
pub const NAMESPACE_ANNOTATION: &str = "flavorbox-namespace";
/// The namespace label of a manager without a namespace (a folded
/// namespace starts with a letter or digit, so never looks like this).
const NO_NAMESPACE: &str = "_none";
/// GCP's limits.
const MAX_ID: usize = 255;
pub const MAX_PAYLOAD: usize = 64 * 1024;
const MAX_LABEL_VALUE: usize = 63;
/// Most bytes a stored payload may inflate to.
const MAX_INFLATED: u64 = 1024 * 1024;
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for c in text.chars() {
        match c {
            '_' => out.push_str("_u"),
            '.' => out.push_str("_d"),
            c => out.push(c),
        }
    }
    out
}

/// The GCP secret id of flavorbox secret `name` in `namespace`.
pub fn secret_id(namespace: Option<&str>, name: &str) -> Result<String, Error> {
    names::check(name)?;
    let prefix = namespace
        .map(|ns| format!("{}__", escape(ns)))
        .unwrap_or_default();
    let readable = format!("{prefix}{}", escape(name));
    if readable.len() <= MAX_ID {
        return Ok(readable);
    }
    let digest = Sha256::digest(name.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("{prefix}_h{hex}"))
}

/// `text` folded to a label value: lowercase letters, digits, `_` and `-`
/// (anything else becomes `-`), at most 63 characters. Lossy.
pub fn label_value(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '_' | '-' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '-',
        })
        .take(MAX_LABEL_VALUE)
        .collect()
}

/// The `flavorbox_namespace` label of `namespace`.
pub fn namespace_label(namespace: Option<&str>) -> String {
    namespace.map_or_else(|| NO_NAMESPACE.to_string(), label_value)
}

/// The `labels` and `annotations` of `secret` in `namespace`.
pub fn metadata(namespace: Option<&str>, secret: &Secret) -> (Value, Value) {
    let labels = json!({
        NAMESPACE_LABEL: namespace_label(namespace),
        SCHEMA_KEY: label_value(&secret.schema),
    });
    let mut annotations = json!({ NAME_ANNOTATION: secret.name });
    if let Some(ns) = namespace {
        annotations[NAMESPACE_ANNOTATION] = json!(ns);
    }
    (labels, annotations)
}

/// The `filter` of a listing of `namespace`'s secrets (narrowing only; see
/// [`listed_name`]).
pub fn list_filter(namespace: Option<&str>) -> String {
    format!(
        "labels.{NAMESPACE_LABEL}=\"{}\"",
        namespace_label(namespace)
    )
}

/// The flavorbox name of a listed GCP `secret` resource, if it is one of
/// `namespace`'s.
pub fn listed_name(namespace: Option<&str>, secret: &Value) -> Option<String> {
    let id = secret["name"].as_str()?.rsplit('/').next()?;
    let annotations = &secret["annotations"];
    let name = annotations[NAME_ANNOTATION].as_str()?;
    if annotations[NAMESPACE_ANNOTATION].as_str() != namespace {
        return None;
    }
    (secret_id(namespace, name).ok()? == id).then(|| name.to_string())
}

/// The payload bytes of `secret`.
pub fn encode(secret: &Secret) -> Result<Vec<u8>, Error> {
    let object = zenml::encode_flat("gcp_secrets_manager", secret)?;
    let json = Value::Object(object).to_string().into_bytes();
    if json.len() <= MAX_PAYLOAD {
        return Ok(json);
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let compressed = gz
        .write_all(&json)
        .and_then(|()| gz.finish())
        .map_err(|_| Error::Backend("compressing the payload failed".into()))?;
    if compressed.len() > MAX_PAYLOAD {
        return Err(Error::Invalid(format!(
            "secret `{}` takes {} bytes as JSON and {} compressed; GCP holds at most {MAX_PAYLOAD}",
            secret.name,
            json.len(),
            compressed.len()
        )));
    }
    Ok(compressed)
}

/// The secret `name` from the payload bytes of its latest version.
pub fn decode(name: &str, payload: &[u8]) -> Result<Secret, Error> {
    let stored = Stored {
        backend: "GCP",
        name,
    };
    let inflated;
    let json = if payload.starts_with(&GZIP_MAGIC) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(payload)
            .take(MAX_INFLATED + 1)
            .read_to_end(&mut out)
            .map_err(|_| stored.corrupt("its payload is not valid gzip"))?;
        if out.len() as u64 > MAX_INFLATED {
            return Err(stored.corrupt("its payload inflates past 1 MiB"));
        }
        inflated = out;
        &inflated[..]
    } else {
        payload
    };
    let parsed: Value =
        serde_json::from_slice(json).map_err(|_| stored.corrupt("its payload is not JSON"))?;
    let object = parsed
        .as_object()
        .ok_or_else(|| stored.corrupt("its payload is not a JSON object"))?;
    stored.decode_flat(object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn secret(name: &str, values: &[(&str, &str)]) -> Secret {
        zenml::secret(name, "basic_auth", values)
    }

    fn is_gcp_id(id: &str) -> bool {
        (1..=MAX_ID).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    }

    /// Names that collide under naive encodings (`.` -> `_` or `-`, case
    /// folding, truncation).
    fn edge_names() -> Vec<String> {
        let mut names: Vec<String> = [
            "a.b", "a_b", "a-b", "a__b", "a_ub", "a_db", "a._b", "a_.b", "a..b", "a.u", "DB", "db",
            "Db", "0", "1abc", "9.9", "x_", "x.", "x-", "x__", "h", "u", "d",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        names.push("a".repeat(128));
        names.push(format!("a{}", ".".repeat(127)));
        names.push(format!("a{}", "_".repeat(127)));
        names.push(format!("{}b", "a.".repeat(63)));
        names.push(format!("{}c", "a.".repeat(63)));
        names.push(format!("Z{}", "9".repeat(127)));
        names
    }

    #[test]
    fn every_name_gets_a_distinct_valid_id_in_every_namespace() {
        let long_ns = format!("n{}", ".".repeat(63));
        let namespaces = [
            None,
            Some("team-a"),
            Some("team.a"),
            Some("team_a"),
            Some(long_ns.as_str()),
        ];
        let mut seen = HashSet::new();
        for ns in namespaces {
            for name in edge_names() {
                let id = secret_id(ns, &name).unwrap();
                assert!(is_gcp_id(&id), "{ns:?} {name}: {id} ({} chars)", id.len());
                assert!(seen.insert(id.clone()), "{ns:?} {name}: {id} collides");
                // The annotation round-trips it back, in its namespace only.
                let (_, annotations) = metadata(ns, &secret(&name, &[("k", "v")]));
                let listed = json!({
                    "name": format!("projects/123/secrets/{id}"),
                    "annotations": annotations,
                });
                assert_eq!(listed_name(ns, &listed).as_deref(), Some(name.as_str()));
                for other in namespaces.iter().filter(|o| **o != ns) {
                    assert_eq!(
                        listed_name(*other, &listed),
                        None,
                        "{ns:?} seen from {other:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn ids_are_readable_when_they_fit_and_hashed_when_not() {
        assert_eq!(secret_id(None, "db.creds_v2").unwrap(), "db_dcreds_uv2");
        assert_eq!(secret_id(Some("team.a"), "DB").unwrap(), "team_da__DB");
        assert_eq!(
            secret_id(None, &format!("a{}", ".".repeat(127)))
                .unwrap()
                .len(),
            255
        );
        let long = format!("a{}", ".".repeat(127));
        let hashed = secret_id(Some("ns"), &long).unwrap();
        assert!(
            hashed.starts_with("ns___h") && hashed.len() == 4 + 2 + 64,
            "{hashed}"
        );
        for bad in ["", ".a", "_a", "a/b", "a b", &"a".repeat(129)] {
            assert!(
                matches!(secret_id(None, bad), Err(Error::Invalid(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn labels_are_folded_and_never_trusted() {
        assert_eq!(label_value("Team.A_b-9"), "team-a_b-9");
        assert_eq!(label_value(&"X".repeat(100)).len(), 63);
        assert_eq!(namespace_label(None), "_none");
        assert_eq!(
            list_filter(Some("Team.A")),
            "labels.flavorbox_namespace=\"team-a\""
        );
        // `Team.A` and `team-a` share a label but not a listing.
        let (_, annotations) = metadata(Some("Team.A"), &secret("s", &[("k", "v")]));
        let theirs = json!({
            "name": format!("projects/1/secrets/{}", secret_id(Some("Team.A"), "s").unwrap()),
            "annotations": annotations,
        });
        assert_eq!(listed_name(Some("team-a"), &theirs), None);
        // A forged annotation naming a secret whose id is another's.
        let forged = json!({
            "name": "projects/1/secrets/other",
            "annotations": { NAME_ANNOTATION: "db" },
        });
        assert_eq!(listed_name(None, &forged), None);
        assert_eq!(
            listed_name(None, &json!({ "name": "projects/1/secrets/db" })),
            None
        );
    }

    #[test]
    fn payloads_round_trip_and_large_ones_are_compressed() {
        let original = secret("db", &[("username", "u"), ("password", "p\"w\n✓")]);
        let bytes = encode(&original).unwrap();
        let parsed: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(parsed[SCHEMA_KEY], "basic_auth");
        assert_eq!(parsed["password"], "p\"w\n✓");
        let back = decode("db", &bytes).unwrap();
        assert_eq!(back.schema, "basic_auth");
        assert_eq!(back.values.len(), 2);

        let half = "x".repeat(32 * 1024);
        let big = secret("big", &[("a", &half), ("b", &half)]);
        let bytes = encode(&big).unwrap();
        assert!(bytes.starts_with(&GZIP_MAGIC) && bytes.len() <= MAX_PAYLOAD);
        assert_eq!(decode("big", &bytes).unwrap().values.len(), 2);

        assert!(matches!(
            encode(&secret("s", &[(SCHEMA_KEY, "x")])),
            Err(Error::Invalid(_))
        ));
    }

    #[test]
    fn refuses_foreign_payloads_without_echoing_them() {
        let flat = decode("db", br#"{"token":"t"}"#).unwrap();
        assert_eq!(flat.schema, "arbitrary");
        for payload in [
            &b"s3cr3t"[..],
            br#"["s3cr3t"]"#,
            br#"{"k":1}"#,
            br#"{"zenml_schema_name":"x"}"#,
            &[0x1f, 0x8b, b's', b'3', b'c'],
        ] {
            match decode("db", payload) {
                Err(Error::Backend(m)) => assert!(!m.contains("s3cr3t"), "{m}"),
                other => panic!("{payload:?}: {other:?}"),
            }
        }
        // A gzip bomb stops at the cap.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&vec![b' '; 2 * 1024 * 1024]).unwrap();
        let bomb = gz.finish().unwrap();
        assert!(matches!(decode("db", &bomb), Err(Error::Backend(m)) if m.contains("1 MiB")));
    }
}
