//! Printing: aligned text tables for people, JSON and YAML for
//! scripts (which carry values exactly), live lines on stderr for people
//! only (drawn on a terminal, never in a pipe or a log), and everything on
//! stdout through
//! [`out!`] or [`raw`], so a reader that goes away (`flavorbox flavor list |
//! head -1`, `flavorbox man | head`) ends the process quietly: exit 0, no
//! panic and no message (what was asked for was delivered to whoever still
//! wanted it; a pipeline under `set -o pipefail` does not fail for it).
//!
//! Text a flavor supplied (names, descriptions, config-field text, errors)
//! is escaped before it gets here (`flavorbox::text`); the cells of a table
//! are escaped again here, so nothing printed can forge a line or reorder
//! what follows it.

use std::io::Write;

use serde::Serialize;

use flavorbox::text::escape;
use flavorbox::{Error, Result};

/// `println!` that ends the process quietly when stdout is a closed pipe.
macro_rules! out {
    () => {
        $crate::output::line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::output::line(format_args!($($arg)*))
    };
}
pub(crate) use out;

/// Writes one line to stdout; see [`out!`].
pub fn line(args: std::fmt::Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    let written = stdout
        .write_fmt(args)
        .and_then(|()| stdout.write_all(b"\n"));
    if let Err(err) = written {
        closed(err);
    }
}

/// Writes `bytes` to stdout as they are (a generated script or page),
/// ending the process quietly when stdout is a closed pipe, as [`out!`].
pub fn raw(bytes: &[u8]) {
    let mut stdout = std::io::stdout().lock();
    if let Err(err) = stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        closed(err);
    }
}

/// Writes to stderr, ignoring a closed one (there is nowhere left to say
/// anything), above the live lines drawn there.
pub fn err_line(args: std::fmt::Arguments<'_>) {
    LIVE.suspend(|| {
        let _ = writeln!(std::io::stderr().lock(), "{args}");
    });
}

/// The live lines on stderr (progress bars, spinners), drawn together so
/// that one never writes over another, and only on a terminal.
static LIVE: std::sync::LazyLock<indicatif::MultiProgress> = std::sync::LazyLock::new(|| {
    indicatif::MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::stderr())
});

/// A new live line on stderr (drawn only on a terminal) of `len` steps, or
/// none, in indicatif's `template`; its owner clears it when done.
pub fn live_line(len: Option<u64>, template: &str) -> indicatif::ProgressBar {
    let bar =
        indicatif::ProgressBar::with_draw_target(len, indicatif::ProgressDrawTarget::hidden());
    bar.set_style(indicatif::ProgressStyle::with_template(template).expect("a valid template"));
    LIVE.add(bar)
}

/// Ends the process after stdout failed: with exit 0 when the reader went
/// away (`EPIPE`: nobody is left to read the rest), with exit 1 and one line
/// otherwise (a full disk, a closed descriptor).
fn closed(err: std::io::Error) -> ! {
    if err.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    err_line(format_args!("flavorbox: cannot write the output: {err}"));
    std::process::exit(1);
}

/// Prints rows as columns separated by two spaces, the header first. Cells
/// are escaped: one row is always one line.
pub fn table(header: &[&str], rows: &[Vec<String>]) {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(|cell| escape(cell).into_owned()).collect())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let print = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let mut text = String::new();
        for (i, (cell, width)) in cells.iter().zip(&widths).enumerate() {
            if i == last {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<width$}  "));
            }
        }
        out!("{}", text.trim_end());
    };
    print(header.to_vec());
    for row in &rows {
        print(row.iter().map(String::as_str).collect());
    }
}

/// Prints `value` as JSON or YAML when `format` asks for one; `None` when
/// it asks for a table, which the caller prints.
#[must_use]
pub fn structured(format: crate::OutputFormat, value: &impl Serialize) -> Option<Result<()>> {
    match format {
        crate::OutputFormat::Table => None,
        crate::OutputFormat::Json => Some(json(value)),
        crate::OutputFormat::Yaml => Some(yaml(value)),
    }
}

pub fn json(value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(Error::host)?;
    out!("{text}");
    Ok(())
}

pub fn yaml(value: &impl Serialize) -> Result<()> {
    let text = serde_norway::to_string(value).map_err(Error::host)?;
    out!("{}", text.trim_end_matches('\n'));
    Ok(())
}
