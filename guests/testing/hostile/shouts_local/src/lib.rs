//! Hostile test flavor `hostile_shouts_local`.
//!
//! Calls itself `LOCAL` in `info()`: the built-in flavor's name in capitals,
//! to sit beside `local` and be taken for it. Otherwise entirely honest (the
//! `honest` crate); the attack is the name, which is why its flavor name is
//! not its crate name.
//!
//! Host: flavor names are lowercase (and unique without regard to case), so
//! it is refused at registration (exit 2) and by `evaluate`.

struct HostileShoutsLocal;

impl honest::Flavor for HostileShoutsLocal {
    const NAME: &'static str = "LOCAL";
    const DESCRIPTION: &'static str =
        "Hostile test flavor: calls itself LOCAL, the built-in name in capitals.";
}

honest::export_flavor!(HostileShoutsLocal, any_name);
