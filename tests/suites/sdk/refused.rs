//! A Python or JavaScript class that could not answer every operation of
//! contract 0.2 is refused when it is built, by the SDK's `export()`, with
//! one line saying what to add: one that inherits the SDK's history without
//! the `storage` it is kept in, one that says its backend keeps the history
//! (`NATIVE_HISTORY`) without implementing it.
//!
//! Guards against a flavor that builds, registers, and then fails every
//! history call at run time.

use flavorbox_tests::components;

use super::{cli, new_project};

#[test]
fn a_flavor_that_cannot_keep_its_history_is_refused_at_build() {
    // The SDK keeps the history of a flavor of six methods in its storage:
    // a class that does not declare `storage` could answer nothing of it,
    // so its build fails naming what to add.
    for (lang, source, declared, tool, var) in [
        (
            "python",
            "app.py",
            "CAPABILITIES = [\"storage\"]",
            components::componentize_py(),
            "FLAVORBOX_COMPONENTIZE_PY",
        ),
        (
            "js",
            "app.js",
            "static CAPABILITIES = ['storage'];",
            components::componentize_js(),
            "FLAVORBOX_COMPONENTIZE_JS",
        ),
    ] {
        let parent = new_project("keepless", lang);
        let app = parent.path().join("keepless").join(source);
        let text = std::fs::read_to_string(&app).unwrap();
        assert!(text.contains(declared), "{lang}: {text}");
        let without = declared.replace("\"storage\"", "").replace("'storage'", "");
        std::fs::write(&app, text.replace(declared, &without)).unwrap();
        let out = cli(
            &["flavor", "build", "keepless"],
            &[(var, tool.as_os_str())],
            Some(parent.path()),
        );
        assert_eq!(out.code, 2, "{lang}: {out:#?}");
        assert!(
            out.stderr.contains(
                "Keepless inherits the SDK's versions, soft delete and labels, which are kept \
                 in the flavor's storage: add"
            ),
            "{lang}: {out:#?}"
        );
        assert!(!parent.path().join("keepless/keepless.wasm").exists());
    }

    // A class that says its backend keeps the history (so the SDK keeps
    // nothing) must implement it: here it implements only ZenML's six.
    let parent = new_project("native", "python");
    let app = parent.path().join("native/app.py");
    let text = std::fs::read_to_string(&app).unwrap();
    let declared = "    CONFIG = []\n";
    assert!(text.contains(declared), "{text}");
    let native = format!("{declared}    NATIVE_HISTORY = True\n");
    std::fs::write(&app, text.replace(declared, &native)).unwrap();
    let py = components::componentize_py();
    let out = cli(
        &["flavor", "build", "native"],
        &[("FLAVORBOX_COMPONENTIZE_PY", py.as_os_str())],
        Some(parent.path()),
    );
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(
        out.stderr
            .contains("Native does not implement list_secrets (NATIVE_HISTORY is set)"),
        "{out:#?}"
    );
}
