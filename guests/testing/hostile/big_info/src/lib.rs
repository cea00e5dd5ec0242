//! Hostile test flavor `hostile_big_info`.
//!
//! `info()` declares 10,000 config fields, each with a 100-byte
//! description, and an 81 KB description of itself. Every operation is honest (the
//! `honest` crate).
//!
//! Host: must refuse it at registration (exit 2) with one short line
//! naming the cap (at most 64 config fields, 2 KiB of description), and
//! `evaluate` must refuse it, with host memory bounded.

use honest::{ConfigField, FlavorInfo};

struct HostileBigInfo;

impl honest::Flavor for HostileBigInfo {
    const NAME: &'static str = "hostile_big_info";
    const DESCRIPTION: &'static str = "unused";

    fn info() -> FlavorInfo {
        let config = (0..10_000)
            .map(|i| ConfigField {
                name: format!("field{i}"),
                description: "x".repeat(100),
                required: false,
                secret: false,
            })
            .collect();
        honest::info(Self::NAME, &"describe ".repeat(9_000), config)
    }
}

honest::export_flavor!(HostileBigInfo);
