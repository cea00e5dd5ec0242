//! JavaScript flavor projects: `app.js` on the JavaScript SDK (ZenML's
//! `BaseSecretsManager` shape), built with componentize-js under Node.js.
//!
//! Guards against a build against the wrong tool: a missing Node.js or
//! componentize-js is one line saying how to install it (the project's own
//! `node_modules` copy is preferred), and a version other than the one
//! flavors are tested with is warned about.

use std::path::Path;

use flavorbox::Result;

use super::toolchain::{Tool, absolute, env_tool, run_tool};
use super::{CONTRACT_0_2, GENERATED_WORLD, Language};
use crate::environment;

/// The componentize-js release flavors are tested with (sdk/js/package.json).
pub const COMPONENTIZE_JS_VERSION: &str = "0.23.0";

/// The SDK a JavaScript project carries.
const SDK: &[(&str, &str)] = &[(
    "flavorbox-sdk.js",
    include_str!("../../../sdk/js/flavorbox-sdk.js"),
)];

pub(super) fn language() -> Language {
    Language {
        label: "JavaScript",
        arg: "js",
        source: "`app.js`",
        tool: "componentize-js",
        sdk_note: " (version 0.2); `flavorbox-sdk.js` is the SDK, which keeps the \
                   versions, soft deletes and labels of 0.2 for the six operations in \
                   the same storage",
        install: format!(
            "npm install @bytecodealliance/componentize-js@{COMPONENTIZE_JS_VERSION}   # once, here"
        ),
        templates: &[("app.js", include_str!("../../templates/js/app.js"))],
        sdk: SDK,
        contract: CONTRACT_0_2,
        gitignore: "*.wasm\nnode_modules/\n",
        build,
    }
}

fn build(dir: &Path, output: &Path) -> Result<()> {
    let install = format!(
        "install it with `npm install @bytecodealliance/componentize-js@{COMPONENTIZE_JS_VERSION}` \
         in the project (or set {} to its `componentize-js` script)",
        environment::COMPONENTIZE_JS
    );
    let node = Tool {
        program: "node".into(),
        args_before: Vec::new(),
        name: "node",
    };
    node.version("install Node.js 20 or later (it runs componentize-js)")?;
    let local = dir.join("node_modules/@bytecodealliance/componentize-js/src/cli.js");
    let script =
        env_tool(environment::COMPONENTIZE_JS).or_else(|| local.is_file().then_some(local));
    let tool = match script {
        Some(script) => Tool {
            program: "node".into(),
            args_before: vec![script.display().to_string()],
            name: "componentize-js",
        },
        None => Tool {
            program: "componentize-js".into(),
            args_before: Vec::new(),
            name: "componentize-js",
        },
    };
    let carries = "a JavaScript engine of about 13 MB";
    let (stage, mut cmd) = tool.prepare(
        &install,
        COMPONENTIZE_JS_VERSION,
        dir,
        SDK,
        CONTRACT_0_2,
        carries,
    )?;
    cmd.arg(stage.path().join("app.js"))
        .arg("-w")
        .arg(stage.path().join("wit"))
        .args(["-n", GENERATED_WORLD, "-o"])
        .arg(absolute(output)?);
    run_tool(cmd, "componentize-js")?;
    Ok(())
}
