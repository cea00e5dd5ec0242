//! What keeps one tenant of a node (a peer address, a token, a secrets
//! manager) from degrading the others: the node's limits
//! ([`ServeLimits`], given by whoever starts it), a count of what each
//! peer or token holds at once ([`InFlight`]), and the call slots shared
//! fairly between managers ([`CallSlots`]).
//!
//! Guards against:
//! - one address taking the node's whole connection budget: each holds at
//!   most [`ServeLimits::peer_connections`] (see `transport.rs`);
//! - one token crowding the others: it has at most
//!   [`ServeLimits::token_requests`] requests in flight, past which it is
//!   answered `429` with `Retry-After` at once;
//! - one manager's calls (a slow flavor, legitimately under its deadline)
//!   starving every other manager: a manager runs at most
//!   [`ServeLimits::manager_call_slots`] calls at once, the node at most
//!   [`ServeLimits::call_slots`]; when slots are short, a freed slot goes
//!   to the waiting manager that holds the fewest (first come first served
//!   among equals), and a request that gets none within
//!   [`ServeLimits::call_wait`] is answered `503` with `Retry-After`,
//!   never left waiting without end.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

use crate::error::{Error, Result};
use crate::policy::caps;

/// How long a client may take to send a request's whole body, by default.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(20);
/// Connections one peer address may hold at once, by default.
pub const DEFAULT_PEER_CONNECTIONS: usize = 64;
/// Requests one token may have in flight at once, by default.
pub const DEFAULT_TOKEN_REQUESTS: usize = 32;
/// Calls one secrets manager may run at once, by default: half the node's,
/// so one manager at full load leaves the other half to the rest.
pub const DEFAULT_MANAGER_CALL_SLOTS: usize = caps::CONCURRENT_CALLS / 2;
/// How long a request waits for a call slot before it is answered `503`,
/// by default.
pub const DEFAULT_CALL_WAIT: Duration = Duration::from_secs(2);

/// The longest body timeout and call wait a node accepts.
const LONGEST_WAIT: Duration = Duration::from_secs(300);

/// A node's per-tenant limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeLimits {
    /// How long a client may take to send a request's whole body, counted
    /// from when the handler starts reading it; past it the request is
    /// answered `408` and its connection closed.
    pub body_timeout: Duration,
    /// Connections one peer address may hold at once (of the node's
    /// `MAX_CONNECTIONS`); a further one is closed as soon as it is
    /// accepted.
    pub peer_connections: usize,
    /// Requests one token may have in flight at once; a further one is
    /// answered `429` with `Retry-After`.
    pub token_requests: usize,
    /// Calls the node runs at once (at most the sandbox's
    /// `caps::CONCURRENT_CALLS` pooled instances).
    pub call_slots: usize,
    /// Calls one secrets manager runs at once (at most `call_slots`).
    pub manager_call_slots: usize,
    /// How long a request waits for a call slot before it is answered
    /// `503` with `Retry-After`.
    pub call_wait: Duration,
}

impl Default for ServeLimits {
    fn default() -> Self {
        ServeLimits {
            body_timeout: DEFAULT_BODY_TIMEOUT,
            peer_connections: DEFAULT_PEER_CONNECTIONS,
            token_requests: DEFAULT_TOKEN_REQUESTS,
            call_slots: caps::CONCURRENT_CALLS,
            manager_call_slots: DEFAULT_MANAGER_CALL_SLOTS,
            call_wait: DEFAULT_CALL_WAIT,
        }
    }
}

impl ServeLimits {
    /// `invalid` naming the first limit out of its range.
    pub fn check(&self) -> Result<()> {
        let within = |name: &str, value: usize, most: usize| {
            if (1..=most).contains(&value) {
                Ok(())
            } else {
                Err(Error::invalid(format!(
                    "{name} must be between 1 and {most}, not {value}"
                )))
            }
        };
        within(
            "the peer connection limit",
            self.peer_connections,
            super::MAX_CONNECTIONS,
        )?;
        within(
            "the token request limit",
            self.token_requests,
            super::MAX_CONNECTIONS,
        )?;
        within("the call slots", self.call_slots, caps::CONCURRENT_CALLS)?;
        within(
            "the call slots of one manager",
            self.manager_call_slots,
            self.call_slots,
        )?;
        for (name, wait) in [
            ("the body timeout", self.body_timeout),
            ("the call wait", self.call_wait),
        ] {
            if wait.is_zero() || wait > LONGEST_WAIT {
                return Err(Error::invalid(format!(
                    "{name} must be more than 0 and at most {} s",
                    LONGEST_WAIT.as_secs()
                )));
            }
        }
        Ok(())
    }
}

/// How many things (connections, requests) each key (a peer, a token)
/// holds at once, each at most `limit`.
pub(super) struct InFlight<K: Eq + Hash + Clone> {
    limit: usize,
    held: Arc<Mutex<HashMap<K, usize>>>,
}

/// One thing a key holds, given back when dropped.
pub(super) struct Held<K: Eq + Hash + Clone> {
    key: K,
    held: Arc<Mutex<HashMap<K, usize>>>,
}

impl<K: Eq + Hash + Clone> InFlight<K> {
    pub(super) fn new(limit: usize) -> Self {
        InFlight {
            limit,
            held: Arc::default(),
        }
    }

    /// One more for `key`, unless it already holds its limit.
    pub(super) fn try_hold(&self, key: K) -> Option<Held<K>> {
        let mut held = lock(&self.held);
        let count = held.entry(key.clone()).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(Held {
            key,
            held: self.held.clone(),
        })
    }
}

impl<K: Eq + Hash + Clone> Drop for Held<K> {
    fn drop(&mut self) {
        let mut held = lock(&self.held);
        if let Some(count) = held.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.key);
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Who a call is charged to: the id of the secrets manager its token is
/// bound to.
pub(super) type ManagerKey = Option<i64>;

/// The node's call slots, shared between managers (see the module
/// documentation).
pub(super) struct CallSlots {
    shared: Arc<SlotShared>,
    wait: Duration,
}

struct SlotShared {
    total: usize,
    per_manager: usize,
    state: Mutex<SlotState>,
}

#[derive(Default)]
struct SlotState {
    busy: usize,
    held: HashMap<ManagerKey, usize>,
    /// Requests waiting, in arrival order.
    waiting: VecDeque<Waiter>,
    next_ticket: u64,
}

struct Waiter {
    ticket: u64,
    manager: ManagerKey,
    grant: oneshot::Sender<CallSlot>,
}

/// One call slot, given back (to the waiting manager holding the fewest)
/// when dropped.
pub(super) struct CallSlot {
    manager: ManagerKey,
    shared: Arc<SlotShared>,
}

/// No call slot came free within the wait.
#[derive(Debug)]
pub(super) struct SlotsBusy;

impl CallSlots {
    pub(super) fn new(limits: &ServeLimits) -> Self {
        CallSlots {
            shared: Arc::new(SlotShared {
                total: limits.call_slots,
                per_manager: limits.manager_call_slots,
                state: Mutex::default(),
            }),
            wait: limits.call_wait,
        }
    }

    /// A slot for a call of `manager`, waited for no longer than the
    /// node's call wait. A request dropped while it waits leaves the queue.
    pub(super) async fn acquire(
        &self,
        manager: ManagerKey,
    ) -> std::result::Result<CallSlot, SlotsBusy> {
        let (grant, granted) = oneshot::channel();
        let ticket = {
            let mut state = lock(&self.shared.state);
            let ticket = state.next_ticket;
            state.next_ticket += 1;
            state.waiting.push_back(Waiter {
                ticket,
                manager,
                grant,
            });
            ticket
        };
        let _queued = Queued {
            ticket,
            shared: &self.shared,
        };
        self.shared.dispatch();
        match tokio::time::timeout(self.wait, granted).await {
            Ok(Ok(slot)) => Ok(slot),
            // Timed out, or (never: the sender lives in the queue until it
            // sends) the sender dropped. A slot sent after the timeout is
            // dropped with the receiver and so given back.
            _ => Err(SlotsBusy),
        }
    }
}

/// A request's place in the queue, left when its wait ends either way.
struct Queued<'a> {
    ticket: u64,
    shared: &'a SlotShared,
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        let mut state = lock(&self.shared.state);
        state.waiting.retain(|w| w.ticket != self.ticket);
    }
}

impl SlotShared {
    /// Hands free slots to waiting requests: each to the waiter whose
    /// manager holds the fewest and is under its own limit, the earliest
    /// among equals. Slots are sent with the lock released (a slot whose
    /// receiver is gone is dropped, which gives it back and dispatches
    /// again).
    fn dispatch(self: &Arc<Self>) {
        let mut granted = Vec::new();
        {
            let mut state = lock(&self.state);
            while state.busy < self.total {
                let held =
                    |m: &ManagerKey, state: &SlotState| state.held.get(m).copied().unwrap_or(0);
                let next = state
                    .waiting
                    .iter()
                    .enumerate()
                    .filter(|(_, w)| held(&w.manager, &state) < self.per_manager)
                    .min_by_key(|(_, w)| (held(&w.manager, &state), w.ticket))
                    .map(|(at, _)| at);
                let Some(at) = next else { break };
                let waiter = state.waiting.remove(at).expect("found above");
                state.busy += 1;
                *state.held.entry(waiter.manager).or_insert(0) += 1;
                granted.push(waiter);
            }
        }
        for waiter in granted {
            let slot = CallSlot {
                manager: waiter.manager,
                shared: self.clone(),
            };
            // A receiver gone (its request timed out or was dropped since)
            // drops the slot it is refused, giving it back.
            let _ = waiter.grant.send(slot);
        }
    }
}

impl Drop for CallSlot {
    fn drop(&mut self) {
        {
            let mut state = lock(&self.shared.state);
            state.busy -= 1;
            if let Some(count) = state.held.get_mut(&self.manager) {
                *count -= 1;
                if *count == 0 {
                    state.held.remove(&self.manager);
                }
            }
        }
        self.shared.dispatch();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(total: usize, per_manager: usize, wait_ms: u64) -> ServeLimits {
        ServeLimits {
            call_slots: total,
            manager_call_slots: per_manager,
            call_wait: Duration::from_millis(wait_ms),
            ..ServeLimits::default()
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn a_manager_takes_no_more_than_its_share_and_a_waiter_gets_busy() {
        runtime().block_on(async {
            let slots = CallSlots::new(&limits(4, 2, 50));
            let a1 = slots.acquire(Some(1)).await.unwrap();
            let _a2 = slots.acquire(Some(1)).await.unwrap();
            // Manager 1 is at its share; slots are free but not for it.
            assert!(slots.acquire(Some(1)).await.is_err());
            let _b1 = slots.acquire(Some(2)).await.unwrap();
            let _b2 = slots.acquire(Some(2)).await.unwrap();
            // The node is full: anyone waits, then hears busy.
            assert!(slots.acquire(Some(3)).await.is_err());
            drop(a1);
            assert!(slots.acquire(Some(3)).await.is_ok());
        });
    }

    #[test]
    fn a_freed_slot_goes_to_the_manager_holding_the_fewest() {
        runtime().block_on(async {
            let slots = Arc::new(CallSlots::new(&limits(3, 3, 5_000)));
            let _a1 = slots.acquire(Some(1)).await.unwrap();
            let _a2 = slots.acquire(Some(1)).await.unwrap();
            let b1 = slots.acquire(Some(2)).await.unwrap();
            // Manager 1 (holding 2) queues first, manager 3 (holding none)
            // after; then one slot frees.
            let waiting = |manager| {
                let slots = slots.clone();
                tokio::spawn(async move { slots.acquire(manager).await })
            };
            let more_for_1 = waiting(Some(1));
            tokio::task::yield_now().await;
            let first_for_3 = waiting(Some(3));
            tokio::task::yield_now().await;
            drop(b1);
            let for_3 = first_for_3.await.unwrap().unwrap();
            assert_eq!(for_3.manager, Some(3));
            assert!(!more_for_1.is_finished(), "manager 1 still waits");
            more_for_1.abort();
        });
    }

    #[test]
    fn a_key_holds_at_most_its_limit_and_gets_it_back() {
        let peers = InFlight::new(2);
        let one = peers.try_hold("a");
        let two = peers.try_hold("a");
        assert!(one.is_some() && two.is_some());
        assert!(peers.try_hold("a").is_none());
        assert!(peers.try_hold("b").is_some());
        drop(one);
        let three = peers.try_hold("a");
        assert!(three.is_some());
        drop((two, three));
        assert!(lock(&peers.held).is_empty(), "nothing held is remembered");
    }

    #[test]
    fn limits_out_of_range_are_refused() {
        assert!(ServeLimits::default().check().is_ok());
        let too_many = limits(caps::CONCURRENT_CALLS + 1, 1, 10);
        assert!(
            too_many
                .check()
                .unwrap_err()
                .is(crate::error::ErrorKind::Invalid)
        );
        assert!(limits(4, 5, 10).check().is_err());
        assert!(limits(4, 2, 0).check().is_err());
    }
}
