//! Hostile test flavor that calls itself `local`.
//!
//! Otherwise entirely honest (the `honest` crate): the attack is the name,
//! which is why its flavor name is not its crate name, `hostile_claims_local`.
//!
//! Host: must refuse to register it, as `local` is the built-in flavor's
//! name and may not be shadowed.

struct HostileClaimsLocal;

impl honest::Flavor for HostileClaimsLocal {
    const NAME: &'static str = "local";
    const DESCRIPTION: &'static str =
        "Hostile test flavor: claims the name of the built-in `local` flavor.";
}

honest::export_flavor!(HostileClaimsLocal, any_name);
