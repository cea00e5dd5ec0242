//! Hostile test flavor `hostile_garbage`.
//!
//! `get-secret(name)` returns malformed secrets, chosen by name (all with
//! schema `arbitrary` unless said otherwise):
//! - `other-name`: a secret named `someone_else`, values `[("k", "v")]`;
//! - `huge`: one value `k` of 1 MiB (past the 64 KiB of a secret, within
//!   what the host copies out of one answer; `hostile_huge_answer` goes
//!   past that);
//! - `dupes`: values `[("k", "1"), ("k", "2")]`;
//! - `bad-key`: values `[("bad key", "v")]`;
//! - `no-values`: no values at all;
//! - `bad-schema`: schema `no such/schema`, values `[("k", "v")]`;
//! - any other name: honest.
//!
//! `get-all-secret-keys` always returns `["fine", "../etc/passwd", "",
//! "fine"]`. Everything else is honest (the `honest` crate).
//!
//! Host: must check every secret and name a flavor returns and refuse these
//! (blaming the flavor) rather than pass them on.

use honest::{Error, Secret};

struct HostileGarbage;

const HUGE: usize = 1 << 20;

fn secret(name: &str, schema: &str, values: &[(&str, &str)]) -> Secret {
    Secret {
        name: name.to_string(),
        schema: schema.to_string(),
        values: values
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect(),
    }
}

impl honest::Flavor for HostileGarbage {
    const NAME: &'static str = "hostile_garbage";
    const DESCRIPTION: &'static str =
        "Hostile test flavor: returns malformed secrets and secret names.";

    fn get_secret(name: String) -> Result<Secret, Error> {
        let arbitrary = "arbitrary";
        Ok(match name.as_str() {
            "other-name" => secret("someone_else", arbitrary, &[("k", "v")]),
            "huge" => secret("huge", arbitrary, &[("k", &"x".repeat(HUGE))]),
            "dupes" => secret("dupes", arbitrary, &[("k", "1"), ("k", "2")]),
            "bad-key" => secret("bad-key", arbitrary, &[("bad key", "v")]),
            "no-values" => secret("no-values", arbitrary, &[]),
            "bad-schema" => secret("bad-schema", "no such/schema", &[("k", "v")]),
            _ => return honest::get_secret(name),
        })
    }

    fn get_all_secret_keys() -> Result<Vec<String>, Error> {
        Ok(["fine", "../etc/passwd", "", "fine"]
            .map(str::to_string)
            .to_vec())
    }
}

honest::export_flavor!(HostileGarbage);
