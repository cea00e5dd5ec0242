//! Printing: aligned text tables for people, JSON and YAML for scripts.
//!
//! Table cells may hold values from a flavor or a user (secret values,
//! config, descriptions): every cell is escaped with `flavorbox::text`, so a
//! newline or an escape sequence in a value cannot forge rows or drive the
//! terminal. JSON and YAML carry values exactly.

use serde::Serialize;

use flavorbox::text::escape;
use flavorbox::{Error, Result};

/// Prints rows as columns separated by two spaces, the header first.
pub fn table(header: &[&str], rows: &[Vec<String>]) {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(|c| escape(c).into_owned()).collect())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let mut out = String::new();
        for (i, (cell, width)) in cells.iter().zip(&widths).enumerate() {
            if i == last {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}  "));
            }
        }
        println!("{}", out.trim_end());
    };
    line(header.to_vec());
    for row in &rows {
        line(row.iter().map(String::as_str).collect());
    }
}

pub fn json(value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(Error::host)?;
    println!("{text}");
    Ok(())
}

pub fn yaml(value: &impl Serialize) -> Result<()> {
    let text = serde_norway::to_string(value).map_err(Error::host)?;
    print!("{text}");
    Ok(())
}
