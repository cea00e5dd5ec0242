//! Hostile test flavor `hostile_markup`.
//!
//! Every text it gives is markup that runs script if a page parses it as
//! HTML: its `info()` description, and the `backend` error every
//! `get-secret` fails with (which `evaluate` reports in its checks and
//! findings); every other operation is honest (the `honest` crate).
//!
//! Host: the web console shows each as text. A page that parsed one would
//! set `window.__pwned` or the page's title (and, under the console's
//! Content-Security-Policy, log a refused inline handler).

use honest::{Error, FlavorInfo, Secret};

struct HostileMarkup;

/// Markup with an inline handler, a script element and a `javascript:` link.
const MARKUP: &str = "<img src=x onerror=\"window.__pwned=1;document.title='pwned'\">\
                      <script>window.__pwned=1</script><a href=\"javascript:window.__pwned=1\">x</a>";

impl honest::Flavor for HostileMarkup {
    const NAME: &'static str = "hostile_markup";
    const DESCRIPTION: &'static str = "unused";

    fn info() -> FlavorInfo {
        honest::info(Self::NAME, &format!("A flavor {MARKUP}"), Vec::new())
    }

    fn get_secret(_name: String) -> Result<Secret, Error> {
        Err(Error::Backend(format!("the backend said {MARKUP}")))
    }
}

honest::export_flavor!(HostileMarkup);
