//! One run of a call: a fresh store set up with every cap, a fresh instance
//! of the flavor in it, and the export invoked.
//!
//! Guards against a run that holds the host past what a call may: every
//! cap is on the store before the guest runs any code (the memory, table
//! and instance limiter; the epoch deadline, which stops code spinning in
//! wasm; the hostcall fuel, which bounds what one host call or answer
//! copies out of the guest; the component handle limit), and a run blocked
//! in a host function (a sleep, a stalled peer) is cut off
//! [`HOST_WAIT_GRACE`] past its deadline. Nothing of the run survives it:
//! the store, and with it the instance, is dropped here; only its
//! [`CallState`] is handed back, to be judged.

use std::time::{Duration, Instant};

use wasmtime::{Engine, Store};

use super::exports::Export;
use super::state::CallState;
use super::{CallSetup, LoadedFlavor, engine, linker::Linkers};
use crate::contract::FlavorError as WitError;
use crate::error::Result;
use crate::policy::caps;

/// How long past its deadline a call blocked in a host function (a sleep, a
/// stalled peer) may take before it is cut off; a call spinning in wasm is
/// stopped by the epoch deadline itself.
const HOST_WAIT_GRACE: Duration = Duration::from_millis(100);

/// How a run ended.
pub(super) enum RunEnd<R> {
    /// It was still blocked in a host function past its deadline and grace.
    OutOfTime,
    /// Its instance could not be created.
    Instantiate(wasmtime::Error),
    /// The call trapped.
    Trap(wasmtime::Error),
    /// The export returned.
    Returned(std::result::Result<R, WitError>),
}

/// Runs `export` once in a fresh instance of `flavor`; how it ended, and
/// what the call did. Fails, before anything ran, only if the flavor cannot
/// be linked for the call's grants.
pub(super) async fn run<E: Export>(
    engine: &Engine,
    linkers: &Linkers,
    flavor: &LoadedFlavor,
    setup: &CallSetup<'_>,
    export: &E,
    deadline: Instant,
) -> Result<(RunEnd<E::Raw>, CallState)> {
    let left = deadline.saturating_duration_since(Instant::now());
    let staged = setup.storage.as_ref().map(|access| access.stage(deadline));
    let state = CallState::new(setup.policy, staged, setup.config.clone(), deadline);
    let mut store = Store::new(engine, state);
    store.limiter(|s| &mut s.limiter);
    store.set_epoch_deadline(engine::deadline_ticks(left));
    store.epoch_deadline_trap();
    store.set_hostcall_fuel(caps::TRANSFER_BYTES);
    store.set_max_component_handles(caps::COMPONENT_HANDLES);

    let pre = flavor.pre(linkers, setup.policy)?;
    let run = async {
        let instance = pre
            .instantiate(&mut store)
            .await
            .map_err(RunEnd::Instantiate)?;
        export
            .invoke(&instance, &mut store)
            .await
            .map(RunEnd::Returned)
            .map_err(RunEnd::Trap)
    };
    let end = match tokio::time::timeout(left + HOST_WAIT_GRACE, run).await {
        Err(_elapsed) => RunEnd::OutOfTime,
        Ok(Ok(end) | Err(end)) => end,
    };
    Ok((end, store.into_data()))
}
