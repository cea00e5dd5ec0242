//! Operations over every secret of a manager: reading a paged listing to
//! its end, and `delete-all-secrets`.
//!
//! Guards against: a backend that keeps answering with a next-page token
//! keeping a call looping (at most [`MAX_PAGES`] pages, and a token that
//! repeats the one just sent is refused); `delete-all-secrets(false)`
//! deleting anything; a half-finished deletion hiding how far it got (the
//! error says `deleted <n> of <total> secrets, then: ...`, of the kind of
//! the failure); a secret someone else deleted meanwhile failing the run.

use crate::Error;
use crate::errors::{self, with_progress};

/// Pages read before a listing gives up.
pub const MAX_PAGES: usize = 1000;

/// A paged listing, as its messages name it.
pub struct Listing<'a> {
    /// The backend, e.g. `AWS`.
    pub backend: &'a str,
    /// The listing call, e.g. `ListSecrets`.
    pub op: &'a str,
    /// The reply's next-page token, e.g. `NextToken`.
    pub token_field: &'a str,
}

impl Listing<'_> {
    /// A page of this listing that does not have the shape the backend
    /// documents, saying `why`.
    pub fn malformed(&self, why: &str) -> Error {
        errors::malformed(self.backend, self.op, why)
    }

    /// Every item of the listing, sorted, without repeats. `page` reads one
    /// page, given the token of the page to read (`None` for the first),
    /// and returns its items and the next page's token (`None` or empty on
    /// the last page).
    pub fn read_all<T: Ord>(
        &self,
        mut page: impl FnMut(Option<&str>) -> Result<(Vec<T>, Option<String>), Error>,
    ) -> Result<Vec<T>, Error> {
        let mut found = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let (items, next) = page(token.as_deref())?;
            found.extend(items);
            match next {
                Some(next) if !next.is_empty() => {
                    if token.as_deref() == Some(next.as_str()) {
                        return Err(self.malformed(&format!("{} repeats", self.token_field)));
                    }
                    token = Some(next);
                }
                _ => {
                    found.sort();
                    found.dedup();
                    return Ok(found);
                }
            }
        }
        Err(Error::Backend(format!(
            "{} returned more than {MAX_PAGES} pages; giving up",
            self.op
        )))
    }
}

/// Refuses `delete-all-secrets(false)` with `invalid`.
pub fn require_force(force: bool) -> Result<(), Error> {
    if force {
        Ok(())
    } else {
        Err(Error::Invalid(
            "deleting all secrets needs force = true".to_string(),
        ))
    }
}

/// Deletes each of `secrets` in order with `delete`, skipping one that is
/// already gone; the first other failure ends the run, its message saying
/// how many were deleted before it.
pub fn delete_each<T>(
    secrets: &[T],
    mut delete: impl FnMut(&T) -> Result<(), Error>,
) -> Result<(), Error> {
    let total = secrets.len();
    for (done, secret) in secrets.iter().enumerate() {
        match delete(secret) {
            Ok(()) | Err(Error::NotFound(_)) => {}
            Err(e) => return Err(with_progress(e, done, total)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTING: Listing<'static> = Listing {
        backend: "AWS",
        op: "ListSecrets",
        token_field: "NextToken",
    };

    #[test]
    fn pages_are_read_to_the_end_sorted_and_deduplicated() {
        let mut asked = Vec::new();
        let all = LISTING
            .read_all(|token| {
                asked.push(token.map(str::to_string));
                Ok(match token {
                    None => (vec!["b", "a"], Some("p2".to_string())),
                    Some("p2") => (vec!["c", "a"], Some(String::new())),
                    Some(other) => panic!("asked for {other}"),
                })
            })
            .unwrap();
        assert_eq!(all, ["a", "b", "c"]);
        assert_eq!(asked, [None, Some("p2".to_string())]);
    }

    #[test]
    fn a_listing_that_never_ends_is_refused() {
        let repeating = LISTING.read_all(|_| Ok((vec![1], Some("same".to_string()))));
        assert!(matches!(
            repeating,
            Err(Error::Backend(m)) if m == "unexpected ListSecrets reply from AWS: NextToken repeats"
        ));
        let mut pages = 0;
        let endless = LISTING.read_all(|_| {
            pages += 1;
            Ok((vec![pages], Some(format!("p{pages}"))))
        });
        assert!(matches!(
            endless,
            Err(Error::Backend(m)) if m == "ListSecrets returned more than 1000 pages; giving up"
        ));
        assert_eq!(pages, MAX_PAGES);
        let failing = LISTING.read_all::<u8>(|_| Err(Error::Denied("no".into())));
        assert!(matches!(failing, Err(Error::Denied(m)) if m == "no"));
    }

    #[test]
    fn delete_all_needs_force() {
        assert!(require_force(true).is_ok());
        assert!(matches!(
            require_force(false),
            Err(Error::Invalid(m)) if m == "deleting all secrets needs force = true"
        ));
    }

    #[test]
    fn deletion_skips_the_gone_and_stops_at_a_failure_saying_how_far_it_got() {
        let mut deleted = Vec::new();
        let result = delete_each(&["a", "gone", "b", "locked", "c"], |name| match *name {
            "gone" => Err(Error::NotFound("gone".into())),
            "locked" => Err(Error::Denied("locked".into())),
            name => {
                deleted.push(name);
                Ok(())
            }
        });
        assert!(matches!(
            result,
            Err(Error::Denied(m)) if m == "deleted 3 of 5 secrets, then: locked"
        ));
        assert_eq!(deleted, ["a", "b"]);
        assert!(delete_each::<&str>(&[], |_| unreachable!()).is_ok());
    }
}
