//! The console in a real browser: headless Chromium (Debian's `chromium`
//! and `chromium-driver`) driven by Selenium from
//! `tests/support/console_browser.py`, as `scripts/install-browser.sh`
//! installs them. The script does every step and fails at the first that
//! does not hold; this test gives it a node with 1,000 secrets, a token of
//! each role, and fails with its output. Screenshots of each main page go
//! to `target/console-screenshots/`.

use std::process::Command;

use crate::Console;

/// The secrets the browser lists, searches and times pages with.
const SECRETS: usize = 1_000;

#[test]
fn a_teammate_finds_reveals_and_updates_a_secret_and_an_admin_reads_the_audit_and_a_report() {
    let root = flavorbox_tests::workspace();
    let python = std::env::var_os("FLAVORBOX_BROWSER_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target/browser-venv/bin/python"));
    assert!(
        python.exists(),
        "no Selenium at {}: run scripts/install-browser.sh (scripts/test.sh does)",
        python.display()
    );
    let console = Console::start(SECRETS);
    let shots = root.join("target/console-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let work = tempfile::tempdir().unwrap();
    // The tokens go in a file only its owner reads, never in argv.
    let config = serde_json::json!({
        "url": console.node.url(),
        "admin": console.admin,
        "write": console.write,
        "read": console.read,
        "secrets": SECRETS + 2,
        "screenshots": shots,
        "flavorbox": flavorbox_tests::flavorbox_bin(),
        "home": console.home,
        "chromium": std::env::var("FLAVORBOX_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
        "chromedriver": std::env::var("FLAVORBOX_CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into()),
    });
    let path = flavorbox_tests::cli::private_file(work.path(), "config.json", &config.to_string());
    let output = Command::new(&python)
        .arg(root.join("tests/support/console_browser.py"))
        .arg(&path)
        .env_remove("FLAVORBOX_TOKEN")
        .output()
        .expect("run the browser test");
    let said = String::from_utf8_lossy(&output.stdout);
    let failed = String::from_utf8_lossy(&output.stderr);
    println!("{said}");
    assert!(
        output.status.success(),
        "the browser test failed:\n{said}\n{failed}"
    );
    assert!(said.contains("all steps passed"), "{said}");
    for page in [
        "sign-in",
        "secrets",
        "secret",
        "new-secret",
        "audit",
        "flavors",
        "report",
        "secrets-320px",
    ] {
        let shot = shots.join(format!("{page}.png"));
        assert!(
            std::fs::metadata(&shot).is_ok_and(|m| m.len() > 1_000),
            "no screenshot {}",
            shot.display()
        );
    }
}
