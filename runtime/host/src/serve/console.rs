//! The web console at `/ui/`: one page and its script and style, embedded
//! in the binary, that call the same JSON API every other client does with
//! the token the user signs in with.
//!
//! Guards against:
//! - script running that the binary did not ship: the page's
//!   Content-Security-Policy allows scripts, styles and fetches from this
//!   origin only (no inline script, no `eval`), and the script builds every
//!   element with DOM calls that take text (`textContent`), never HTML, so
//!   a secret's name, value or label, a flavor's description or an audit
//!   field shows as text whatever it holds;
//! - the page being framed or sniffed: `frame-ancestors 'none'` and
//!   `X-Frame-Options: DENY`; `nosniff` on every answer, JSON included;
//! - a token outliving its tab or leaking: the script keeps it in memory
//!   only (never a cookie, local storage or the URL), so a reload signs out,
//!   and every request carries it as `Authorization`, which no other site
//!   can make a browser send; a revoked token is refused on its next
//!   request and the console returns to sign-in;
//! - cross-site request forgery: besides the bearer token no other origin
//!   can attach, a state-changing request a browser marks as coming from
//!   another site (`Sec-Fetch-Site`, or `Origin` from a browser too old to
//!   send it) is refused `403` before it is authenticated
//!   ([`refuse_cross_origin`]);
//! - an answer being cached: every answer of the node is `no-store`.

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use super::Node;
use super::json::Answer;

const PAGE: &str = include_str!("console/index.html");
const SCRIPT: &str = include_str!("console/app.js");
const STYLE: &str = include_str!("console/app.css");

/// What the console's page may load and do.
pub const CONSOLE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; form-action 'none'; base-uri 'none'; \
     frame-ancestors 'none'";

/// What any other answer (JSON) may do if a browser renders it: nothing.
const API_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";

pub(super) fn router() -> Router<Arc<Node>> {
    Router::new()
        .route("/ui", get(|| async { Redirect::permanent("/ui/") }))
        .route(
            "/ui/",
            get(|| async { asset(PAGE, "text/html; charset=utf-8") }),
        )
        .route(
            "/ui/app.js",
            get(|| async { asset(SCRIPT, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/ui/app.css",
            get(|| async { asset(STYLE, "text/css; charset=utf-8") }),
        )
}

fn asset(body: &'static str, media_type: &'static str) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONSOLE_POLICY),
    );
    response
}

/// Headers every answer carries (the console's own policy is set by its
/// routes): not framed, not sniffed, not cached, no referrer.
pub(super) async fn secure_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(API_POLICY));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// Refuses (`403`, before authentication, not audited) a request that
/// would change something and that a browser says comes from another
/// site. The browser's own word decides when it gives it
/// (`Sec-Fetch-Site`: only `same-origin`, or `none` for what the user
/// typed, passes), so a proxy that rewrites `Host` changes nothing; a
/// browser too old to send it is judged by `Origin`, which must then name
/// the `Host` the request was asked under. Clients that are not browsers
/// send neither header and are not affected.
pub(super) async fn refuse_cross_origin(request: Request, next: Next) -> Response {
    let reads = [Method::GET, Method::HEAD, Method::OPTIONS];
    if reads.contains(request.method()) || same_origin(request.headers()) {
        return next.run(request).await;
    }
    let refused = "a request that changes something is refused from another site's page";
    Answer::fixed(StatusCode::FORBIDDEN, "cross-origin", refused).into_response()
}

/// Whether nothing in `headers` says the request comes from another site.
fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name| headers.get(name).map(|v| v.to_str().unwrap_or("\u{0}"));
    if let Some(site) = text(HeaderName::from_static("sec-fetch-site")) {
        return matches!(site, "same-origin" | "none");
    }
    let Some(origin) = text(header::ORIGIN) else {
        return true;
    };
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    authority.is_some() && authority == text(header::HOST)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn a_request_without_browser_headers_is_same_origin() {
        assert!(same_origin(&headers(&[("host", "127.0.0.1:8200")])));
    }

    #[test]
    fn the_nodes_own_origin_passes_and_any_other_is_refused() {
        let own = [
            ("host", "127.0.0.1:8200"),
            ("origin", "http://127.0.0.1:8200"),
        ];
        assert!(same_origin(&headers(&own)));
        for origin in [
            "http://evil.example",
            "http://127.0.0.1:8201",
            "null",
            "127.0.0.1:8200",
        ] {
            let asked = headers(&[("host", "127.0.0.1:8200")]);
            let mut asked = asked;
            asked.insert(header::ORIGIN, HeaderValue::from_static(origin));
            assert!(!same_origin(&asked), "{origin} passed");
        }
    }

    #[test]
    fn fetch_metadata_naming_another_site_is_refused() {
        for site in ["cross-site", "same-site"] {
            let mut asked = headers(&[("host", "h")]);
            asked.insert("sec-fetch-site", HeaderValue::from_static(site));
            assert!(!same_origin(&asked), "{site} passed");
        }
    }

    #[test]
    fn the_browsers_word_that_it_is_the_same_origin_survives_a_proxy_rewriting_host() {
        let proxied = [
            ("host", "127.0.0.1:8200"),
            ("origin", "https://secrets.example.com"),
            ("sec-fetch-site", "same-origin"),
        ];
        assert!(same_origin(&headers(&proxied)));
        let typed = [("host", "h"), ("sec-fetch-site", "none")];
        assert!(same_origin(&headers(&typed)));
    }
}
