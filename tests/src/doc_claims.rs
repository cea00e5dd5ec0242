//! The documentation and the comments name only tests, functions and files
//! that exist: `README.md` and `docs/*.md` cite tests as evidence
//! (`docs/security.md` has a table of them), comments point to the test
//! that covers a case, and a renamed or deleted test would otherwise leave
//! a claim nothing checks.
//!
//! Read: inline code spans of `README.md` and `docs/*.md` (outside fenced
//! blocks), and of every `//` comment (doc comments too) in the
//! repository's `.rs` files. In a span:
//! - a snake_case name of three or more words (`every_call_gets_a_fresh_instance`)
//!   is a test, bench or function: some `.rs` file of the repository must
//!   declare `fn <name>`, unless the code uses the name as a string literal
//!   (a config key such as `aws_session_token`, a guest crate such as
//!   `hostile_loop`) or it is one of [`NAMED_ELSEWHERE`];
//! - a path that starts at a top-level directory of the repository
//!   (`tests/suites/memory.rs`, `tests/suites/cli/`) must exist, from the
//!   repository's root or (in a comment) from the commenting crate's
//!   directory;
//! - in the Markdown, a test name right after such a path (`tests/suites/memory.rs`
//!   `a_compile_bomb`) must be declared in that file, or in a file under that
//!   directory.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Directories never read: build output, installed packages.
const SKIPPED_DIRS: &[&str] = &["target", "node_modules", "__pycache__"];

/// Extensions of the files whose code may declare or use a name.
const SOURCE_EXTENSIONS: &[&str] = &["rs", "py", "js", "toml", "wit", "sh"];

/// Functions of other crates that comments name without their path.
const NAMED_ELSEWHERE: &[&str] = &[
    // std::alloc::handle_alloc_error
    "handle_alloc_error",
];

/// One place that names something.
struct Citation {
    /// `docs/security.md:96`
    place: String,
    span: String,
    /// Where a relative path may start besides the root: the directory of
    /// the crate whose comment this is.
    crate_dir: Option<PathBuf>,
}

#[test]
fn every_test_and_path_the_docs_and_comments_cite_exists() {
    let root = crate::workspace();
    let mut sources = Vec::new();
    walk(&root, &mut sources);
    let mut functions = BTreeSet::new();
    let mut functions_in = BTreeMap::new();
    let mut literals = BTreeSet::new();
    let mut citations = Vec::new();
    for path in &sources {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if path.extension().is_some_and(|e| e == "rs") {
            let declared: BTreeSet<String> = declared_functions(&text).collect();
            functions.extend(declared.iter().cloned());
            functions_in.insert(path.clone(), declared);
            citations.extend(comment_citations(&root, path, &text));
        }
        literals.extend(quoted_identifiers(&text));
    }
    assert!(
        functions.contains("every_test_and_path_the_docs_and_comments_cite_exists"),
        "the scan of {} found none of the repository's functions",
        root.display()
    );
    let mut docs = vec![root.join("README.md")];
    docs.extend(markdown_in(&root.join("docs")));
    let mut problems = Vec::new();
    for doc in &docs {
        let text =
            std::fs::read_to_string(doc).unwrap_or_else(|e| panic!("read {}: {e}", doc.display()));
        let shown = relative(&root, doc);
        for (line, spans) in code_spans(&text) {
            let place = format!("{shown}:{line}");
            for pair in spans.windows(2) {
                let ((path, between), (name, _)) = (pair[0], pair[1]);
                let Some(path) = repository_path(&root, path) else {
                    continue;
                };
                let adjacent = matches!(between.trim(), "" | ",");
                let declared = functions_in
                    .iter()
                    .any(|(file, names)| file.starts_with(&path) && names.contains(name));
                if adjacent && is_test_like(name) && functions.contains(name) && !declared {
                    problems.push(format!(
                        "{place}: `{name}` is cited as in `{}`, but it is declared elsewhere",
                        relative(&root, &path)
                    ));
                }
            }
            citations.extend(spans.into_iter().map(|(span, _)| Citation {
                place: place.clone(),
                span: span.to_string(),
                crate_dir: None,
            }));
        }
    }

    for Citation {
        place,
        span,
        crate_dir,
    } in &citations
    {
        let known = |name: &str| {
            functions.contains(name) || literals.contains(name) || NAMED_ELSEWHERE.contains(&name)
        };
        if is_test_like(span) && !known(span) {
            problems.push(format!(
                "{place}: `{span}` is cited, but no `fn {span}` exists in the repository \
                 (nor is it a name the code uses as a string)"
            ));
        } else if let Some(path) = repository_path(&root, span) {
            let from_crate = crate_dir.as_ref().map(|dir| dir.join(span));
            if !path.exists() && !from_crate.is_some_and(|p| p.exists()) {
                problems.push(format!(
                    "{place}: `{span}` is cited, but there is no such file or directory"
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} citation(s) name something that does not exist:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// `path` from `root`, for messages.
fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Every file under `dir` with a source extension, skipping build output
/// and hidden directories.
fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if !name.starts_with('.') && !SKIPPED_DIRS.contains(&name.as_str()) {
                walk(&path, found);
            }
        } else if path
            .extension()
            .is_some_and(|e| SOURCE_EXTENSIONS.iter().any(|s| e == *s))
        {
            found.push(path);
        }
    }
}

/// The `.md` files directly in `dir`.
fn markdown_in(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    found.sort();
    found
}

fn is_identifier_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The names `text` declares with `fn NAME`.
fn declared_functions(text: &str) -> impl Iterator<Item = String> + '_ {
    text.match_indices("fn ").filter_map(move |(at, _)| {
        let before = text[..at].chars().next_back();
        if before.is_some_and(is_identifier_char) {
            return None;
        }
        let name: String = text[at + 3..]
            .chars()
            .take_while(|c| is_identifier_char(*c))
            .collect();
        (!name.is_empty()).then_some(name)
    })
}

/// The identifiers `text` quotes whole: `"hostile_loop"`, `"aws_session_token"`.
fn quoted_identifiers(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split('"')
        .filter(|part| !part.is_empty() && part.chars().all(is_identifier_char))
        .map(str::to_string)
}

/// The code spans of the `//` comments of the Rust file `path`.
fn comment_citations(root: &Path, path: &Path, text: &str) -> Vec<Citation> {
    let crate_dir = path
        .ancestors()
        .skip(1)
        .find(|dir| dir.join("Cargo.toml").is_file())
        .map(Path::to_path_buf);
    let shown = relative(root, path);
    let mut found = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let Some(at) = line.find("//") else {
            continue;
        };
        found.extend(inline_spans(&line[at..]).map(|span| Citation {
            place: format!("{shown}:{}", number + 1),
            span: span.to_string(),
            crate_dir: crate_dir.clone(),
        }));
    }
    found
}

/// The inline code spans of one line.
fn inline_spans(line: &str) -> impl Iterator<Item = &str> {
    line.split('`').skip(1).step_by(2)
}

/// The inline code spans of each line of the Markdown `text` (outside
/// fenced code blocks), by line number, each with the text that follows it
/// up to the next span.
fn code_spans(text: &str) -> Vec<(usize, Vec<(&str, &str)>)> {
    let mut lines = Vec::new();
    let mut fenced = false;
    for (number, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let parts: Vec<&str> = line.split('`').collect();
        let spans: Vec<(&str, &str)> = (1..parts.len())
            .step_by(2)
            .map(|i| (parts[i], parts.get(i + 1).copied().unwrap_or_default()))
            .collect();
        if !spans.is_empty() {
            lines.push((number + 1, spans));
        }
    }
    lines
}

/// Whether `span` reads as the name of a test or function: lowercase
/// snake_case of three or more words.
fn is_test_like(span: &str) -> bool {
    let words: Vec<&str> = span.split('_').collect();
    span.starts_with(|c: char| c.is_ascii_lowercase())
        && words.len() >= 3
        && words.iter().all(|w| {
            !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

/// `span` as a path from the repository's root, when it is one: it starts
/// with a top-level directory (`tests/`, `docs/`, ...) and holds nothing
/// but path characters.
fn repository_path(root: &Path, span: &str) -> Option<PathBuf> {
    let (top, _) = span.split_once('/')?;
    let plain = span
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_-./".contains(c));
    let at_top = !top.is_empty()
        && !top.starts_with('.')
        && !SKIPPED_DIRS.contains(&top)
        && root.join(top).is_dir();
    (plain && at_top).then(|| root.join(span.trim_end_matches('/')))
}
