//! Hostile test flavor `hostile_mask_bomb`.
//!
//! Every `get-secret` logs 50,000 lines and writes 10,000 lines to stdout,
//! each full of 1,024 distinct strings of 1 to 3 bytes; `get-secret("bomb")`
//! then answers a valid secret of 1,024 keys with those strings as values
//! (any other name: honestly). Masking each line against each value would
//! be 10^8 steps and more, after the call's deadline. Every other operation
//! is honest (the `honest` crate).
//!
//! Host: masking is linear in the output (one automaton per call, records
//! capped), so the call ends within its deadline, every short value that
//! stands as a word is masked, and the answer comes back; `evaluate` reports
//! the flood.

use honest::{Error, Secret, log};

struct HostileMaskBomb;

/// 1,024 distinct values of 1-3 bytes: `0`-`9`, `a0`-`z9`, then `aa0`...
fn values() -> Vec<String> {
    let mut values: Vec<String> = (0..10).map(|d| d.to_string()).collect();
    for c in 'a'..='z' {
        for d in 0..10 {
            values.push(format!("{c}{d}"));
        }
    }
    'outer: for c in 'a'..='z' {
        for e in 'a'..='z' {
            for d in 0..10 {
                if values.len() == 1_024 {
                    break 'outer;
                }
                values.push(format!("{c}{e}{d}"));
            }
        }
    }
    values
}

impl honest::Flavor for HostileMaskBomb {
    const NAME: &'static str = "hostile_mask_bomb";
    const DESCRIPTION: &'static str =
        "Hostile test flavor: returns 1,024 short values and logs a flood of lines holding them.";

    fn get_secret(name: String) -> Result<Secret, Error> {
        let values = values();
        let line: String = values[..64].join(" ");
        for _ in 0..50_000 {
            log::log(log::Level::Info, &line);
        }
        for _ in 0..10_000 {
            println!("{line}");
        }
        if name != "bomb" {
            return honest::get_secret(name);
        }
        let keyed = values.into_iter().enumerate();
        Ok(honest::arbitrary(
            name,
            keyed.map(|(i, v)| (format!("k{i}"), v)).collect(),
        ))
    }
}

honest::export_flavor!(HostileMaskBomb);
