//! The wasmtime engine every flavor runs on.
//!
//! Guards against a flavor monopolising the host: epoch interruption stops
//! any call at its deadline (a ticker thread advances the epoch); the store
//! limiter of each call caps its memories, tables and instances whichever
//! allocator runs it. A long-lived host uses the pooling allocator, which
//! reserves slots once and recycles them between calls; a one-shot process
//! (the CLI) allocates on demand, as it would pay for reserving every slot to
//! use one.

use std::time::Duration;

use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::error::{Error, Result};
use crate::policy::MAX_MEMORY_MIB;

/// How often the epoch advances: the granularity of call deadlines.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Bytes of each pooled linear memory and table cleared in place (rather
/// than released) when a call ends: about what a Rust flavor touches.
const KEEP_RESIDENT_MEMORY: usize = 2 * 1024 * 1024;
const KEEP_RESIDENT_TABLE: usize = 64 * 1024;

/// Instances that may exist at once (calls running concurrently).
const CONCURRENT_INSTANCES: u32 = crate::policy::caps::CONCURRENT_CALLS as u32;

/// The engine's settings; `pooled` picks the pooling allocator (what calls
/// run on) over on-demand allocation (what the compiler process uses, as it
/// never instantiates). Compiled code does not depend on the allocator, so
/// either engine loads what the other compiled.
pub fn config(pooled: bool) -> Config {
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .concurrency_support(false)
        .max_wasm_stack(512 * 1024)
        .parallel_compilation(true);
    if pooled {
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling()));
    }
    config
}

fn pooling() -> PoolingAllocationConfig {
    let mut pooling = PoolingAllocationConfig::default();
    pooling
        .total_component_instances(CONCURRENT_INSTANCES)
        .total_core_instances(CONCURRENT_INSTANCES * 8)
        .total_memories(CONCURRENT_INSTANCES * 2)
        .total_tables(CONCURRENT_INSTANCES * 4)
        // Each running call needs one fiber stack. wasmtime's default (1,000)
        // set up a guard page per stack at engine creation: 1,000 `mprotect`s,
        // most of a `Sandbox::new` (2.3 ms to 0.46 ms).
        .total_stacks(CONCURRENT_INSTANCES)
        .max_core_instances_per_component(16)
        .max_memories_per_component(2)
        .max_tables_per_component(8)
        .table_elements(super::limiter::MAX_TABLE_ELEMENTS)
        .max_memory_size((MAX_MEMORY_MIB * 1024 * 1024) as usize)
        // A flavor's memory and tables are wiped between calls either way;
        // wiping the first pages in place instead of returning them to the
        // kernel spares every call the page faults of bringing them back.
        .linear_memory_keep_resident(KEEP_RESIDENT_MEMORY)
        .table_keep_resident(KEEP_RESIDENT_TABLE)
        // Where the kernel can say which pages a call dirtied (Linux 6.7+),
        // only those are reset; otherwise every kept page is, which was
        // half of a bare call (`raw-call` bench: 25 µs to 12.6 µs).
        .pagemap_scan(Enabled::Auto);
    pooling
}

/// Creates an engine (pooled, or allocating instances on demand) and starts
/// its epoch ticker. The ticker holds only a weak reference and stops once
/// the engine is dropped.
pub fn new_engine(pooled: bool) -> Result<Engine> {
    let engine = Engine::new(&config(pooled)).map_err(|e| Error::host(format!("engine: {e}")))?;
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("flavorbox-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .map_err(|e| Error::host(format!("cannot start the epoch ticker: {e}")))?;
    Ok(engine)
}

/// Epoch ticks that cover `timeout` (at least two, so a call never starts
/// already expired).
pub fn deadline_ticks(timeout: Duration) -> u64 {
    (timeout.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64 + 1
}

/// A hash of the engine settings that compiled code depends on, so a cache
/// never serves code compiled for other settings.
pub fn compatibility_tag(engine: &Engine) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}
