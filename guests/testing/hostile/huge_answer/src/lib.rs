//! Hostile test flavor `hostile_huge_answer`.
//!
//! Answers with more than the host takes, chosen by name:
//! - `get-secret("many-keys")`: a secret of 2,000 keys with one-byte values
//!   (the 64 KiB cap counts values only);
//! - `get-secret("million-keys")`: 200,000 keys, about 10 MB once the host
//!   holds them as strings;
//! - `get-secret("long-error")`: `backend` with 80 KB of text;
//! - `get-all-secret-keys`: 500,000 names;
//! - any other name: honest, like every other operation (the `honest`
//!   crate).
//!
//! Host: must refuse each without holding it in full: a secret has at most
//! 1,024 keys (`sandbox: garbage`), and no answer is copied out of the
//! guest past the per-answer transfer cap (`sandbox: limit`), so host
//! memory stays bounded; an error line stays one short line.

use honest::{Error, Secret};

struct HostileHugeAnswer;

fn keyed(name: &str, keys: usize) -> Secret {
    let values = (0..keys).map(|i| (format!("k{i}"), "v".to_string()));
    honest::arbitrary(name.to_string(), values.collect())
}

impl honest::Flavor for HostileHugeAnswer {
    const NAME: &'static str = "hostile_huge_answer";
    const DESCRIPTION: &'static str =
        "Hostile test flavor: answers with more keys, names and text than the host takes.";

    fn get_secret(name: String) -> Result<Secret, Error> {
        match name.as_str() {
            "many-keys" => Ok(keyed(&name, 2_000)),
            "million-keys" => Ok(keyed(&name, 200_000)),
            "long-error" => Err(Error::Backend("detail ".repeat(10_000))),
            _ => honest::get_secret(name),
        }
    }

    fn get_all_secret_keys() -> Result<Vec<String>, Error> {
        Ok((0..500_000).map(|i| format!("n{i}")).collect())
    }
}

honest::export_flavor!(HostileHugeAnswer);
