//! What went wrong in a run, told as one [`Violation`] (the flavor's fault)
//! or as the host's own failure.
//!
//! Guards against a misbehaving flavor being reported as something else:
//! a call stopped at its deadline, a refused memory growth (even one the
//! flavor caught and answered after), a breach a capability recorded, and a
//! fixed cap of the store each get their own kind and words, whatever trap
//! or error wasmtime ended the call with; only what is none of these is a
//! plain `trap`. A store failure on the host's side (a lock held past the
//! deadline, a broken database) blames no flavor.
//!
//! Guards against the operator's omission being blamed on the flavor: a
//! refusal for want of a grant the flavor declared (a capability, or an
//! origin the manager's config names) is the operator's `denied`, told once
//! with the command that grants it, whether the call trapped on it or the
//! flavor reported it. Only when it is the call's one kind of breach: a
//! flavor that reaches elsewhere, uses what it did not declare, or breaks
//! the sandbox otherwise is told as breaking it, and no command is offered
//! that would grant what the flavor alone chose.
//!
//! Errors are recognised by their type wherever wasmtime gives one
//! ([`Trap`], [`ResourceTableError`]); the two store caps it reports only
//! in words are recognised in one place, [`untyped_store_cap`], whose
//! tests provoke the real errors.

use wasmtime::Trap;
use wasmtime::component::ResourceTableError;

use super::exports::Export;
use super::run::RunEnd;
use super::state::CallState;
use super::{CallSetup, Grantee};
use crate::capabilities::Ungranted;
use crate::contract::FlavorError as WitError;
use crate::contract::Operation;
use crate::error::{Error, ErrorKind, Violation};
use crate::policy::{Capability, Limits, Origin, caps};

use super::cache::one_line;

/// Why a call failed, before its text is masked or withheld.
pub(super) enum Failure {
    /// The sandbox, the host or the answer's checks ended the call.
    Host(Error),
    /// The flavor returned an error.
    Flavor(WitError),
    /// The flavor broke the sandbox, noticed, and returned an error saying
    /// what it had done by then (e.g. how far a bulk deletion got).
    Breach(Error, WitError),
    /// The operator did not grant what the flavor declared and used; what
    /// the flavor then said only repeats it.
    Ungranted(Error),
}

/// The checked answer of a run, or why it failed.
pub(super) fn decide<E: Export>(
    end: RunEnd<E::Raw>,
    state: &CallState,
    export: &E,
    setup: &CallSetup<'_>,
) -> Result<E::Answer, Failure> {
    let op = E::OPERATION;
    let limits = &setup.policy.limits;
    match end {
        RunEnd::OutOfTime => Err(Failure::Host(deadline_error(limits, op))),
        RunEnd::Instantiate(err) => Err(Failure::Host(classify_instantiation(&err, state, op))),
        RunEnd::Trap(err) => Err(classify_trap(&err, state, setup, op)),
        // A refused memory growth stops the call even if the flavor caught
        // it (a Python or JavaScript runtime turns it into an exception the
        // flavor may answer with, where a Rust flavor aborts).
        RunEnd::Returned(returned) => match (memory_breach(state, op), returned) {
            (Some(err), _) => Err(Failure::Host(err)),
            (None, Err(wit)) => Err(match (omission(state, setup), breach(state)) {
                (Some(err), _) => Failure::Ungranted(err),
                (None, Some(err)) => Failure::Breach(err, wit),
                (None, None) => Failure::Flavor(wit),
            }),
            (None, Ok(raw)) => export.check(raw).map_err(Failure::Host),
        },
    }
}

/// The operator's omission, when the call's only breach is a refusal for
/// want of a grant the flavor declared: a capability it lists in `info()`,
/// or (with `http` declared) an origin a value of the manager's config
/// names, or any origin a trusted flavor (one this binary carries) asks
/// for. An origin nobody configured is an untrusted flavor's own choice,
/// and stays its breach.
fn omission(state: &CallState, setup: &CallSetup<'_>) -> Option<Error> {
    let Grantee {
        flavor,
        declared,
        trusted,
    } = setup.grantee?;
    let grant = |what: &str, flag: &str| {
        Error::denied(format!(
            "flavor `{flavor}` {what}: grant it with `flavorbox flavor grant {flavor} {flag}`"
        ))
    };
    match state.ungranted()? {
        Ungranted::Capability(Capability::Http) if declared.contains(&Capability::Http) => {
            let configured = configured_origins(setup);
            let flags = match configured.is_empty() {
                true => Ungranted::Capability(Capability::Http).grant_flag(),
                false => configured
                    .iter()
                    .map(|o| Ungranted::Origin(o.clone()).grant_flag())
                    .collect::<Vec<_>>()
                    .join(" "),
            };
            Some(grant(
                "declares capability `http`, which was not granted",
                &flags,
            ))
        }
        wanted @ Ungranted::Capability(capability) if declared.contains(&capability) => {
            Some(grant(
                &format!("declares capability `{capability}`, which was not granted"),
                &wanted.grant_flag(),
            ))
        }
        Ungranted::Origin(origin)
            if declared.contains(&Capability::Http)
                && (trusted || configured_origins(setup).contains(&origin)) =>
        {
            Some(grant(
                &format!("may not reach {origin}"),
                &Ungranted::Origin(origin.clone()).grant_flag(),
            ))
        }
        _ => None,
    }
}

/// The http(s) origins the call's config values name (`endpoint`, `url`,
/// `address`: whatever the flavor takes), in order, once each.
fn configured_origins(setup: &CallSetup<'_>) -> Vec<Origin> {
    let mut origins: Vec<Origin> = Vec::new();
    for value in setup.config.values() {
        let Some(origin) = value
            .parse::<http::Uri>()
            .ok()
            .and_then(|uri| Origin::of_uri(&uri))
        else {
            continue;
        };
        if !origins.contains(&origin) {
            origins.push(origin);
        }
    }
    origins
}

/// The first sandbox breach a capability recorded, as an error.
fn breach(state: &CallState) -> Option<Error> {
    state
        .violation()
        .map(|(kind, detail, _)| Error::sandbox(kind, detail))
}

fn deadline_error(limits: &Limits, operation: Operation) -> Error {
    Error::sandbox(
        Violation::Deadline,
        format!(
            "{operation} ran past its {} ms deadline and was stopped",
            limits.timeout_ms
        ),
    )
}

/// A fixed cap of the store that wasmtime reports without a type of its
/// own (see [`untyped_store_cap`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StoreCap {
    /// `Store::set_hostcall_fuel`: more bytes copied out of the guest in
    /// one host call or answer than allowed.
    HostcallFuel,
    /// `Store::set_max_component_handles`: more live component handles.
    ComponentHandles,
}

/// Which store cap `cause` reports, read from its words: the one place the
/// sandbox matches an error's text, as wasmtime 48.0.8 gives these errors
/// no type to match on:
///
/// - hostcall fuel: `LiftContext::consume_fuel` in
///   `crates/wasmtime/src/runtime/component/func/options.rs` bails with
///   `HostcallFuelExhausted`, a private type shown as "too much data is
///   being copied between the host and the guest: fuel allocated for
///   hostcalls has been exhausted";
/// - component handles: `HandleTable::insert` and `resource_lend` in
///   `crates/wasmtime/src/runtime/vm/component/handle_table.rs` bail with a
///   plain message ending in "store handle limit exceeded".
///
/// The tests of this module provoke both errors from real components, so a
/// wasmtime that words them otherwise fails them.
fn untyped_store_cap(cause: &(dyn std::error::Error + 'static)) -> Option<StoreCap> {
    let text = cause.to_string();
    if text.contains("fuel allocated for hostcalls has been exhausted") {
        Some(StoreCap::HostcallFuel)
    } else if text.contains("store handle limit exceeded") {
        Some(StoreCap::ComponentHandles)
    } else {
        None
    }
}

/// Whether a fixed cap of the store ended the call: more data copied out
/// of the guest than one host call may carry, or too many live resources or
/// handles.
fn cap_reached(err: &wasmtime::Error, op: Operation) -> Option<Error> {
    let detail = err.chain().find_map(|cause| {
        if let Some(ResourceTableError::Full) = cause.downcast_ref::<ResourceTableError>() {
            return Some(format!(
                "{op} held more than {} host resources (streams, pollables, wasi:http \
                 requests, fields or bodies, sockets) at once",
                caps::HOST_RESOURCES
            ));
        }
        Some(match untyped_store_cap(cause)? {
            StoreCap::HostcallFuel => format!(
                "{op} handed the host more than {} MiB in one host call or answer",
                caps::TRANSFER_BYTES / (1024 * 1024)
            ),
            StoreCap::ComponentHandles => format!(
                "{op} held more than {} component handles at once",
                caps::COMPONENT_HANDLES
            ),
        })
    })?;
    Some(Error::sandbox(Violation::Limit, detail))
}

/// The call's refused memory growth, if there was one.
fn memory_breach(state: &CallState, op: Operation) -> Option<Error> {
    let asked = state.limiter.memory_refused?;
    Some(Error::sandbox(
        Violation::Memory,
        format!(
            "{op} asked for {} MiB of linear memory, more than the {} MiB allowed",
            asked.div_ceil(1024 * 1024),
            state.limiter.memory_cap() / (1024 * 1024)
        ),
    ))
}

fn classify_trap(
    err: &wasmtime::Error,
    state: &CallState,
    setup: &CallSetup<'_>,
    op: Operation,
) -> Failure {
    let limits = &setup.policy.limits;
    match &state.storage.host_failure {
        // A lock another writer held past the deadline: nobody's fault.
        Some(failure) if failure.is(ErrorKind::Conflict) => {
            return Failure::Host(Error::conflict(format!(
                "{op} stopped: {}",
                failure.detail()
            )));
        }
        Some(failure) => {
            return Failure::Host(Error::host(format!(
                "{op} stopped: the host's store failed ({failure}); nothing was written"
            )));
        }
        None => {}
    }
    if let Some(Trap::Interrupt) = err.downcast_ref::<Trap>() {
        return Failure::Host(deadline_error(limits, op));
    }
    if let Some(err) = memory_breach(state, op) {
        return Failure::Host(err);
    }
    if let Some(err) = omission(state, setup) {
        return Failure::Ungranted(err);
    }
    if let Some(err) = breach(state) {
        return Failure::Host(err);
    }
    if let Some(err) = cap_reached(err, op) {
        return Failure::Host(err);
    }
    let what = match err.downcast_ref::<Trap>() {
        Some(trap) => trap.to_string(),
        None => one_line(err),
    };
    Failure::Host(Error::sandbox(
        Violation::Trap,
        format!("{op} trapped: {what}"),
    ))
}

/// A component that cannot be instantiated within the sandbox's limits
/// (tables, memories, instances, a start function that traps) is the
/// flavor's fault.
fn classify_instantiation(err: &wasmtime::Error, state: &CallState, op: Operation) -> Error {
    if let Some(asked) = state.limiter.memory_refused {
        return Error::sandbox(
            Violation::Memory,
            format!(
                "instantiating the flavor for {op} asked for {} MiB of linear memory, more \
                 than the {} MiB allowed",
                asked.div_ceil(1024 * 1024),
                state.limiter.memory_cap() / (1024 * 1024)
            ),
        );
    }
    if let Some(Trap::Interrupt) = err.downcast_ref::<Trap>() {
        return Error::sandbox(
            Violation::Deadline,
            format!("instantiating the flavor for {op} ran past its deadline"),
        );
    }
    let kind = if err.downcast_ref::<Trap>().is_some() {
        Violation::Trap
    } else {
        Violation::Limit
    };
    Error::sandbox(
        kind,
        format!(
            "the flavor could not be instantiated for {op} within the sandbox's limits: {}",
            one_line(err)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::component::{Component, Linker};
    use wasmtime::{Config, Engine, Store};

    /// A component whose export `hoard: func()` creates 1,000 handles of
    /// its own resource (the bytes are this text, encoded):
    ///
    /// ```wat
    /// (component
    ///   (type $r (resource (rep i32)))
    ///   (core func $new (canon resource.new $r))
    ///   (core module $m
    ///     (import "" "new" (func $new (param i32) (result i32)))
    ///     (func (export "hoard") (local $n i32)
    ///       (loop $more
    ///         (drop (call $new (i32.const 0)))
    ///         (br_if $more (i32.lt_u (local.tee $n (i32.add (local.get $n) (i32.const 1)))
    ///                                (i32.const 1000))))))
    ///   (core instance $args (export "new" (func $new)))
    ///   (core instance $i (instantiate $m (with "" (instance $args))))
    ///   (func (export "hoard") (canon lift (core func $i "hoard"))))
    /// ```
    const HOARD: &[u8] = b"\
        \0asm\x0d\0\x01\0\x07\x04\x01\x3f\x7f\0\x08\x03\x01\x02\0\x01I\0asm\x01\0\0\0\
        \x01\x09\x02\x60\x01\x7f\x01\x7f\x60\0\0\x02\x08\x01\0\x03new\0\0\x03\x02\x01\
        \x01\x07\x09\x01\x05hoard\0\x01\x0a\x1b\x01\x19\x01\x01\x7f\x03\x40A\0\x10\0\x1a\
        \x20\0A\x01j\x22\0A\xe8\x07I\x0d\0\x0b\x0b\x02\x0f\x02\x01\x01\x03new\0\0\0\0\
        \x01\0\x12\0\x06\x0b\x01\0\0\x01\x01\x05hoard\x07\x05\x01\x40\0\x01\0\x08\x06\
        \x01\0\0\x01\0\x01\x0b\x0b\x01\0\x05hoard\x01\0\0";

    /// A component whose export `shout: func() -> string` answers an
    /// 8-byte string (the 8 bytes at address 0, which say where it is):
    ///
    /// ```wat
    /// (component
    ///   (core module $m
    ///     (memory (export "memory") 1)
    ///     (func (export "shout") (result i32) (i32.const 0))
    ///     (data (i32.const 0) "\00\00\00\00\08\00\00\00"))
    ///   (core instance $i (instantiate $m))
    ///   (alias core export $i "memory" (core memory $memory))
    ///   (func (export "shout") (result string)
    ///     (canon lift (core func $i "shout") (memory $memory) string-encoding=utf8)))
    /// ```
    const SHOUT: &[u8] = b"\
        \0asm\x0d\0\x01\0\x01D\0asm\x01\0\0\0\x01\x05\x01\x60\0\x01\x7f\x03\x02\x01\0\
        \x05\x03\x01\0\x01\x07\x12\x02\x05shout\0\0\x06memory\x02\0\x0a\x06\x01\x04\0A\0\
        \x0b\x0b\x0e\x01\0A\0\x0b\x08\0\0\0\0\x08\0\0\0\x02\x04\x01\0\0\0\x06\x16\x02\0\
        \0\x01\0\x05shout\0\x02\x01\0\x06memory\x07\x05\x01\x40\0\0s\x08\x09\x01\0\0\0\
        \x02\x03\0\0\0\x0b\x0b\x01\0\x05shout\x01\0\0";

    /// A store of a plain engine with `component` instantiated in it.
    fn instantiate(component: &[u8]) -> (Store<()>, wasmtime::component::Instance) {
        let mut config = Config::new();
        config.wasm_component_model(true);
        let engine = Engine::new(&config).expect("engine");
        let component = Component::new(&engine, component).expect("a valid component");
        let mut store = Store::new(&engine, ());
        let instance = Linker::new(&engine)
            .instantiate(&mut store, &component)
            .expect("instantiates");
        (store, instance)
    }

    /// What `err` is told as, once it is checked to be the store cap
    /// `cap` (and only that) and a `limit`.
    fn told_as_limit(err: &wasmtime::Error, cap: StoreCap) -> String {
        let found: Vec<_> = err.chain().filter_map(untyped_store_cap).collect();
        assert_eq!(found, [cap], "{err:?}");
        let told = cap_reached(err, Operation::GetSecret).expect("a cap reached");
        assert_eq!(told.violation(), Some(Violation::Limit), "{told}");
        told.detail().to_string()
    }

    #[test]
    fn hostcall_fuel_running_out_is_recognised_and_told_as_a_limit() {
        let (mut store, instance) = instantiate(SHOUT);
        let shout = instance
            .get_typed_func::<(), (String,)>(&mut store, "shout")
            .expect("export `shout`");
        store.set_hostcall_fuel(4);
        let err = shout.call(&mut store, ()).expect_err("8 bytes, fuel for 4");
        let told = told_as_limit(&err, StoreCap::HostcallFuel);
        let mib = caps::TRANSFER_BYTES / (1024 * 1024);
        let words = format!("handed the host more than {mib} MiB in one host call or answer");
        assert!(told.contains(&words), "{told}");
    }

    #[test]
    fn the_component_handle_limit_is_recognised_and_told_as_a_limit() {
        let (mut store, instance) = instantiate(HOARD);
        let hoard = instance
            .get_typed_func::<(), ()>(&mut store, "hoard")
            .expect("export `hoard`");
        store.set_max_component_handles(16);
        let err = hoard
            .call(&mut store, ())
            .expect_err("1,000 handles, room for 16");
        let told = told_as_limit(&err, StoreCap::ComponentHandles);
        let words = format!(
            "held more than {} component handles",
            caps::COMPONENT_HANDLES
        );
        assert!(told.contains(&words), "{told}");
    }

    #[test]
    fn other_errors_are_no_store_cap() {
        let err = wasmtime::Error::msg("wasm trap: unreachable");
        assert_eq!(err.chain().find_map(untyped_store_cap), None);
        assert!(cap_reached(&err, Operation::Info).is_none());
        let full = wasmtime::Error::new(ResourceTableError::Full);
        let told = cap_reached(&full, Operation::Info).expect("a cap");
        assert!(told.detail().contains("host resources"), "{told}");
    }
}
