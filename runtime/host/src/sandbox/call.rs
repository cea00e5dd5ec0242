//! The call loop: a slot, one deadline, and runs until one counts.
//!
//! Guards against calls crowding the host and against lost updates. A call
//! first waits for one of [`caps::CONCURRENT_CALLS`] slots, within its
//! deadline; the deadline then covers everything done for the call
//! (running, masking its output, committing). Each run is judged in order:
//! how it ended ([`classify`](super::classify)), what of its text is masked
//! or withheld ([`withhold`](super::withhold)), and whether its writes are
//! committed ([`commit`](super::commit)). A commit that finds the namespace
//! changed by another call reruns the call on fresh data while time is
//! left, unless the call reached the network (whose effects a rerun would
//! repeat); then it fails as a `conflict`, nothing written, blaming no
//! flavor.

use std::time::{Duration, Instant};

use super::classify::{self, Failure};
use super::commit::{self, Committed};
use super::exports::Export;
use super::withhold::{self, Telling};
use super::{CallReport, CallSetup, LoadedFlavor, Outcome, Sandbox, run};
use crate::capabilities::log::Source as LogSource;
use crate::error::{Error, Result};
use crate::mask::Masker;
use crate::policy::{Capability, caps};

/// One run of a call and what decides whether it runs again.
struct Attempt<T> {
    outcome: Outcome<T>,
    /// The commit found the namespace changed by another call.
    changed: bool,
    /// The flavor used HTTP: a rerun would repeat what it sent.
    reached_network: bool,
}

impl Sandbox {
    pub(super) async fn call_async<E: Export>(
        &self,
        flavor: &LoadedFlavor,
        setup: CallSetup<'_>,
        export: &E,
    ) -> Outcome<E::Answer> {
        if let Some(refused) = super::exports::unsupported(E::OPERATION, E::SINCE, flavor.contract)
        {
            return Outcome::failed(refused);
        }
        let started = Instant::now();
        let limits = setup.policy.limits;
        let deadline = started + limits.timeout();
        let permit = tokio::time::timeout_at(
            tokio::time::Instant::from_std(deadline),
            self.slots.clone().acquire_owned(),
        );
        let Ok(Ok(_permit)) = permit.await else {
            return Outcome::failed(Error::conflict(format!(
                "all {} call slots of this process stayed busy past the {} ms deadline; \
                 nothing ran",
                caps::CONCURRENT_CALLS,
                limits.timeout_ms
            )));
        };
        let mut attempts = 0;
        loop {
            attempts += 1;
            let run = self.attempt(flavor, &setup, export, deadline).await;
            let again = run.changed && !run.reached_network && Instant::now() < deadline;
            if again {
                continue;
            }
            let mut outcome = run.outcome;
            outcome.report.attempts = attempts;
            outcome.report.elapsed = started.elapsed();
            if run.changed {
                outcome.result = Err(Error::conflict(format!(
                    "another call changed this secrets manager's storage while {} ran{}; \
                     nothing was written, try again",
                    E::OPERATION,
                    if run.reached_network {
                        " (not run again: it reached the network)"
                    } else {
                        ""
                    }
                )));
            }
            return outcome;
        }
    }

    /// One run of a call: a fresh instance, its output, and its commit.
    async fn attempt<E: Export>(
        &self,
        flavor: &LoadedFlavor,
        setup: &CallSetup<'_>,
        export: &E,
        deadline: Instant,
    ) -> Attempt<E::Answer> {
        let operation = E::OPERATION;
        let ran = run::run(&self.engine, &self.linkers, flavor, setup, export, deadline).await;
        let (end, state) = match ran {
            Ok(ran) => ran,
            Err(err) => {
                return Attempt {
                    outcome: Outcome::failed(err),
                    changed: false,
                    reached_network: false,
                };
            }
        };

        // Decide the outcome; flavor text is masked below, once every value
        // the call handled is known.
        let outcome: std::result::Result<E::Answer, Failure> =
            classify::decide(end, &state, export, setup);
        let mut known_values = export.given_values();
        if let Ok(answer) = &outcome {
            known_values.extend(E::answer_values(answer));
        }
        known_values.extend(setup.mask.iter().map(String::as_str));
        let masker = Masker::new(known_values);
        let output = state.log.finish(&masker);
        let recorded = state.violation();
        let telling = Telling {
            operation,
            masker: &masker,
            secret_bearing: withhold::secret_bearing(operation, outcome.is_ok(), &state),
            recorded: recorded.as_ref(),
        };

        let mut report = CallReport {
            elapsed: Duration::ZERO,
            peak_memory: state.limiter.peak_memory,
            used: state.used(),
            violation: telling.recorded_breach(),
            masked_lines: output.masked,
            log_truncated: output.truncated,
            secret_bearing: telling.secret_bearing,
            attempts: 1,
            storage_version: state.storage.version_seen(),
            stored: false,
            ungranted: state.ungranted(),
        };
        if output.records.iter().any(|r| r.source != LogSource::Host) {
            report.used.insert(Capability::Log);
        }
        let mut logs = output.records;
        let reached_network = report.used.contains(&Capability::Http);
        let storage_failure = state.storage.host_failure.is_some();
        let wrote = state.storage.wrote();

        let (result, changed): (Result<E::Answer>, bool) = match outcome {
            Ok(answer) => match commit::commit(answer, state.storage) {
                Ok(Committed::Applied(answer)) => {
                    report.stored = wrote;
                    (Ok(answer), false)
                }
                Ok(Committed::Changed) => (Err(Error::conflict(String::new())), true),
                Err(err) => (Err(err), false),
            },
            Err(failure) => {
                let (err, said) = telling.failure(failure, export, storage_failure);
                logs.extend(said);
                (Err(err), false)
            }
        };
        Attempt {
            outcome: Outcome {
                result,
                logs,
                report,
            },
            changed,
            reached_network,
        }
    }
}
