//! The audit chain's rules, above every backend (called from
//! `store::rules`): how records are linked as they are appended, and how a
//! walk of the chain finds the first broken link.
//!
//! Guards against a deleted, inserted or altered audit record going
//! unnoticed: each record's link covers the link before it and its own
//! content (`access::chain_link`), sequence numbers are consecutive, and
//! the chain's recorded start (moved by pruning) and head bound the walk,
//! so a gap, a record with a wrong link, and records cut from either end
//! are each named by the record where the chain breaks. What the chain
//! cannot show (a rewrite of all of it, ends included) is in
//! `access`'s top comment.

use super::access::{AuditChain, AuditEntry, AuditLink, AuditVerdict, chain_link};
use super::backend::{AccessRows, AuditRecord};
use crate::error::Result;

/// Records walked per statement when verifying the chain.
const AUDIT_PAGE: u32 = 1_000;

/// Appends `entries` after `head` in the rows' transaction, each linked to
/// the one before, and moves the chain's head to the last.
pub(super) fn append_chained(
    rows: &mut impl AccessRows,
    head: AuditLink,
    entries: &[AuditEntry],
) -> Result<Vec<AuditLink>> {
    let mut previous = head;
    let mut records = Vec::with_capacity(entries.len());
    for entry in entries {
        let seq = previous.seq + 1;
        let link = AuditLink {
            seq,
            hash: chain_link(&previous.hash, seq, entry),
        };
        records.push(AuditRecord {
            seq,
            hash: Some(link.hash.clone()),
            entry: entry.clone(),
        });
        previous = link;
    }
    rows.insert_audit(&records)?;
    rows.set_audit_head(&previous)?;
    Ok(records
        .into_iter()
        .map(|r| AuditLink {
            seq: r.seq,
            hash: r.hash.unwrap_or_default(),
        })
        .collect())
}

/// Walks the chain from its recorded start to its recorded head (records
/// appended meanwhile are past the head read, and left for the next walk);
/// the first broken link, or how much is intact.
pub(super) fn walk_chain(rows: &mut impl AccessRows) -> Result<(AuditVerdict, AuditChain)> {
    let chain = rows.audit_chain()?;
    let broken =
        |seq: i64, reason: String| Ok((AuditVerdict::Broken { seq, reason }, chain.clone()));
    let mut previous = chain.pruned.clone();
    let (mut records, mut before_chain) = (0, 0);
    let mut after = 0;
    'pages: loop {
        let page = rows.audit_after(after, AUDIT_PAGE)?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for record in page {
            if record.seq <= chain.pruned.seq {
                before_chain += 1;
                continue;
            }
            if record.seq > chain.head.seq {
                break 'pages;
            }
            let expected = previous.seq + 1;
            if record.seq != expected {
                let missing = if record.seq - 1 == expected {
                    format!("record {expected} is missing")
                } else {
                    format!("records {expected} to {} are missing", record.seq - 1)
                };
                return broken(expected, format!("{missing} (deleted)"));
            }
            let Some(hash) = record.hash else {
                return broken(
                    record.seq,
                    "it carries no link (inserted by hand)".to_string(),
                );
            };
            if hash != chain_link(&previous.hash, record.seq, &record.entry) {
                return broken(
                    record.seq,
                    "its content does not match its link (it was altered, or the link of the \
                     record before it was)"
                        .to_string(),
                );
            }
            previous = AuditLink {
                seq: record.seq,
                hash,
            };
            records += 1;
        }
    }
    if previous.seq != chain.head.seq {
        let first = previous.seq + 1;
        return broken(
            first,
            format!(
                "the chain ends at record {} but its head is record {} (records deleted from its end)",
                previous.seq, chain.head.seq
            ),
        );
    }
    if previous.hash != chain.head.hash {
        return broken(
            previous.seq,
            "the last record's link is not the chain's recorded head (the end was rewritten)"
                .to_string(),
        );
    }
    let verdict = AuditVerdict::Intact {
        records,
        before_chain,
        pruned_through: chain.pruned.seq,
        head: chain.head.clone(),
    };
    Ok((verdict, chain))
}
