//! Python flavor projects: `app.py` on the Python SDK (ZenML's
//! `BaseSecretsManager` shape), built with componentize-py.
//!
//! Guards against a build against the wrong tool: a missing componentize-py
//! is one line saying how to install it, and a version other than the one
//! flavors are tested with is warned about.

use std::path::Path;

use flavorbox::Result;

use super::toolchain::{Tool, absolute, env_tool, run_tool};
use super::{CONTRACT_0_2, GENERATED_WORLD, Language};
use crate::environment;

/// The componentize-py release flavors are tested with (scripts/install-componentize.sh).
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";

/// The SDK a Python project carries.
const SDK: &[(&str, &str)] = &[
    (
        "flavorbox_sdk/__init__.py",
        include_str!("../../../sdk/python/flavorbox_sdk/__init__.py"),
    ),
    (
        "flavorbox_sdk/errors.py",
        include_str!("../../../sdk/python/flavorbox_sdk/errors.py"),
    ),
    (
        "flavorbox_sdk/flavor.py",
        include_str!("../../../sdk/python/flavorbox_sdk/flavor.py"),
    ),
    (
        "flavorbox_sdk/history.py",
        include_str!("../../../sdk/python/flavorbox_sdk/history.py"),
    ),
    (
        "flavorbox_sdk/host.py",
        include_str!("../../../sdk/python/flavorbox_sdk/host.py"),
    ),
    (
        "flavorbox_sdk/http.py",
        include_str!("../../../sdk/python/flavorbox_sdk/http.py"),
    ),
    (
        "flavorbox_sdk/model.py",
        include_str!("../../../sdk/python/flavorbox_sdk/model.py"),
    ),
];

pub(super) fn language() -> Language {
    Language {
        label: "Python",
        arg: "python",
        source: "`app.py`",
        tool: "componentize-py",
        sdk_note: " (version 0.2); `flavorbox_sdk/` is the SDK, which keeps the \
                   versions, soft deletes and labels of 0.2 for the six operations in \
                   the same storage",
        install: format!("pip install componentize-py=={COMPONENTIZE_PY_VERSION}       # once"),
        templates: &[("app.py", include_str!("../../templates/python/app.py"))],
        sdk: SDK,
        contract: CONTRACT_0_2,
        gitignore: "*.wasm\n__pycache__/\n",
        build,
    }
}

fn build(dir: &Path, output: &Path) -> Result<()> {
    let tool = Tool {
        program: env_tool(environment::COMPONENTIZE_PY).unwrap_or_else(|| "componentize-py".into()),
        args_before: Vec::new(),
        name: "componentize-py",
    };
    let install = format!(
        "install it with `pip install componentize-py=={COMPONENTIZE_PY_VERSION}` \
         (or set {} to its path)",
        environment::COMPONENTIZE_PY
    );
    let carries = "a Python runtime of about 18 MB";
    let (stage, mut cmd) = tool.prepare(
        &install,
        COMPONENTIZE_PY_VERSION,
        dir,
        SDK,
        CONTRACT_0_2,
        carries,
    )?;
    cmd.arg("-d")
        .arg(stage.path().join("wit"))
        .args(["-w", GENERATED_WORLD, "componentize", "app", "-p"])
        .arg(stage.path())
        .arg("-o")
        .arg(absolute(output)?);
    run_tool(cmd, "componentize-py")?;
    Ok(())
}
