//! Memory, table and instance limits of one call.
//!
//! Guards against a flavor exhausting host memory: every linear memory and
//! table growth is checked against the flavor's cap (summed over all its
//! memories), a refusal is remembered so the resulting trap is reported as
//! `sandbox: memory` rather than a mystery, and the peak is kept for
//! `evaluate`.

use wasmtime::ResourceLimiter;

/// Most table elements per table (function pointers; a Rust component uses
/// a few hundred).
pub const MAX_TABLE_ELEMENTS: usize = 100_000;
/// Most core instances, tables and memories one component may create.
const MAX_INSTANCES: usize = 16;
const MAX_TABLES: usize = 16;
const MAX_MEMORIES: usize = 4;

pub struct CallLimiter {
    memory_cap: usize,
    memory_in_use: usize,
    pub peak_memory: usize,
    /// Set when a memory growth was refused for exceeding the cap.
    pub memory_refused: Option<usize>,
}

impl CallLimiter {
    pub fn new(memory_cap: u64) -> Self {
        CallLimiter {
            memory_cap: usize::try_from(memory_cap).unwrap_or(usize::MAX),
            memory_in_use: 0,
            peak_memory: 0,
            memory_refused: None,
        }
    }

    pub fn memory_cap(&self) -> usize {
        self.memory_cap
    }
}

impl ResourceLimiter for CallLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.memory_in_use - current.min(self.memory_in_use) + desired;
        if total > self.memory_cap {
            self.memory_refused = Some(total);
            return Ok(false);
        }
        self.memory_in_use = total;
        self.peak_memory = self.peak_memory.max(total);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_the_sum_of_memories_and_remembers_refusals() {
        let mut limiter = CallLimiter::new(100);
        assert!(limiter.memory_growing(0, 60, None).unwrap());
        assert!(limiter.memory_growing(0, 30, None).unwrap());
        assert!(limiter.memory_growing(30, 40, None).unwrap());
        assert_eq!(limiter.peak_memory, 100);
        assert!(!limiter.memory_growing(60, 61, None).unwrap());
        assert_eq!(limiter.memory_refused, Some(101));
    }
}
