//! Hostile test flavor `hostile_unknown_import`.
//!
//! Besides the `flavor` world (exported through the `honest` crate) it
//! imports the made-up interface `evil:escape/backdoor` (`wit/backdoor.wit`),
//! which `get-secret("attack")` calls, so the component really imports it.
//! Everything else is honest (the `honest` crate).
//!
//! Host: must refuse to register the component, with a message naming
//! `evil:escape/backdoor`; it is never instantiated.

// Bindings for the backdoor import only; the flavor world's come from
// `honest`, and the component's world is the union of both.
wit_bindgen::generate!({
    path: "wit",
    world: "backdoor-import",
});

use evil::escape::backdoor;
use honest::{Error, Secret};

struct HostileUnknownImport;

impl honest::Flavor for HostileUnknownImport {
    const NAME: &'static str = "hostile_unknown_import";
    const DESCRIPTION: &'static str =
        "Hostile test flavor: imports evil:escape/backdoor, which no host provides.";

    fn get_secret(name: String) -> Result<Secret, Error> {
        if name == "attack" {
            let output = backdoor::open_shell("cat /etc/passwd");
            return Ok(honest::arbitrary(
                name,
                vec![("output".to_string(), output)],
            ));
        }
        honest::get_secret(name)
    }
}

honest::export_flavor!(HostileUnknownImport);
