//! Talking to the person at the terminal: hidden input and confirmations.
//!
//! Guards against two things. A secret typed at a prompt must not echo or
//! stay on screen; and an interrupted prompt must not leave the terminal
//! without echo (the classic result of Ctrl-C during a password prompt). So
//! hidden input is read with echo, canonical mode and signals off, one byte
//! at a time: Ctrl-C is seen here as a byte, the terminal is restored, and
//! the process exits 130 with one line saying nothing was written. A guard
//! restores the terminal on every other way out too (errors, panics).

use std::io::{IsTerminal, Read, Write};

use flavorbox::{Error, Result};
use rustix::termios::{self, LocalModes, OptionalActions, SpecialCodeIndex, Termios};

/// Restores the saved terminal settings when dropped.
struct RawMode {
    saved: Termios,
}

impl RawMode {
    fn enter() -> Result<RawMode> {
        let stdin = rustix::stdio::stdin();
        let saved = termios::tcgetattr(stdin)
            .map_err(|e| Error::invalid(format!("cannot read the terminal settings: {e}")))?;
        let mut raw = saved.clone();
        raw.local_modes
            .remove(LocalModes::ECHO | LocalModes::ICANON | LocalModes::ISIG);
        raw.special_codes[SpecialCodeIndex::VMIN] = 1;
        raw.special_codes[SpecialCodeIndex::VTIME] = 0;
        termios::tcsetattr(stdin, OptionalActions::Now, &raw)
            .map_err(|e| Error::invalid(format!("cannot set the terminal: {e}")))?;
        Ok(RawMode { saved })
    }

    fn restore(&self) {
        let _ = termios::tcsetattr(rustix::stdio::stdin(), OptionalActions::Now, &self.saved);
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        self.restore();
    }
}

/// Reads one line without echo. Backspace edits; Enter ends the line;
/// Ctrl-C restores the terminal and exits 130; Ctrl-D on an empty line is
/// an error.
pub fn read_hidden(prompt: &str) -> Result<String> {
    // Echo goes off before the prompt shows, so nothing typed in answer to
    // it is ever echoed.
    let raw = RawMode::enter()?;
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let mut line: Vec<u8> = Vec::new();
    let mut stdin = std::io::stdin().lock();
    let mut byte = [0u8; 1];
    loop {
        let n = stdin
            .read(&mut byte)
            .map_err(|e| Error::invalid(format!("cannot read input: {e}")))?;
        if n == 0 {
            break;
        }
        match byte[0] {
            b'\r' | b'\n' => break,
            0x03 => {
                raw.restore();
                eprintln!("\nflavorbox: interrupted; nothing was written");
                std::process::exit(130);
            }
            0x04 if line.is_empty() => {
                drop(raw);
                eprintln!();
                return Err(Error::invalid("input ended (Ctrl-D); nothing was written"));
            }
            0x7f | 0x08 => {
                // Remove one character (all bytes of a UTF-8 sequence).
                while let Some(last) = line.pop() {
                    if last & 0xC0 != 0x80 {
                        break;
                    }
                }
            }
            0x15 => line.clear(), // Ctrl-U
            b => line.push(b),
        }
    }
    drop(raw);
    eprintln!();
    String::from_utf8(line).map_err(|_| Error::invalid("the input is not valid UTF-8"))
}

/// Reads one visible line (for key names and answers).
pub fn read_visible(prompt: &str) -> Result<String> {
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| Error::invalid(format!("cannot read input: {e}")))?;
    Ok(answer.trim().to_string())
}

/// Asks before a destructive step. `yes` (from `--yes`/`--force`) answers
/// for scripts; without it, a terminal is asked and anything else refused.
pub fn confirm(question: &str, yes: bool, flag: &str) -> Result<()> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::invalid(format!(
            "{} needs confirmation; pass {flag} when not on a terminal",
            question.trim_end_matches('?')
        )));
    }
    let answer = read_visible(&format!("{question} [y/N] "))?;
    if matches!(answer.as_str(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(Error::invalid("not confirmed; nothing was changed"))
    }
}
