//! Hostile test flavor `hostile_big_table`.
//!
//! An honest flavor (the `honest` crate) linked so that its function table
//! starts at index 5,000,000 (`build.rs` passes `--table-base`): the
//! component asks for a table of 5,000,000 elements before any code runs.
//!
//! Host: the component breaks the sandbox's instance limits, which is the
//! flavor's fault: refused at registration with exit 2 (and by `evaluate`),
//! never reported as a failure of the host.

struct Hostile;

impl honest::Flavor for Hostile {
    const NAME: &'static str = "hostile_big_table";
    const DESCRIPTION: &'static str = "Hostile test flavor: a 5,000,000-element function table.";
}

honest::export_flavor!(Hostile);
