//! Hostile test flavor `hostile_spoof`.
//!
//! Every text it gives tries to mislead the person at the terminal:
//! - `info()`: a description with U+202E (right-to-left override), U+2066
//!   to U+2069, zero-width and byte-order marks and a line break; a config
//!   field `region` whose description does the same;
//! - `get-secret`: logs `ok\nflavorbox: secret `x` deleted` (a forged host
//!   line), an ANSI escape and a bell, on the log and on stderr, then fails
//!   with `backend` text holding the same;
//! - every other operation: honest (the `honest` crate).
//!
//! Host: every control, bidi and format character is shown escaped, so
//! each record is one line and reads as what it is; no forged line ever
//! starts a line of output.

use honest::{ConfigField, Error, FlavorInfo, Secret, log};

struct HostileSpoof;

const FORGED: &str = "ok\nflavorbox: secret `x` deleted\r\u{1b}[2K\u{7}";
const BIDI: &str = "invoice\u{202e}fdp.exe\u{2066}\u{2067}\u{2068}\u{2069}\u{200b}\u{200c}\u{200d}\u{200e}\u{200f}\u{feff}";

impl honest::Flavor for HostileSpoof {
    const NAME: &'static str = "hostile_spoof";
    const DESCRIPTION: &'static str = "unused";

    fn info() -> FlavorInfo {
        honest::info(
            Self::NAME,
            &format!("A flavor {BIDI}\nflavorbox: registered flavor `local`"),
            vec![ConfigField {
                name: "region".to_string(),
                description: format!("region {BIDI}\nflavorbox: forged"),
                required: false,
                secret: false,
            }],
        )
    }

    fn get_secret(_name: String) -> Result<Secret, Error> {
        log::log(log::Level::Info, FORGED);
        log::log(log::Level::Info, BIDI);
        eprintln!("{FORGED}");
        Err(Error::Backend(format!("{FORGED} {BIDI}")))
    }
}

honest::export_flavor!(HostileSpoof);
