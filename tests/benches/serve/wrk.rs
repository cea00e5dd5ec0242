//! Load from `wrk` (Debian's package): `wrk -t2 -c8 -dNs --latency` on
//! loopback, its requests/s and latency percentiles read from its report.
//!
//! Guards against: a credential in a process's argv (the header a request
//! carries is read by a Lua script from a file private to its owner, so
//! `ps` shows only paths), and a row that measured refusals (any answer
//! that is not 2xx, or a socket error, fails the bench).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Where wrk is looked for, and the variable that moves it.
const WRK: flavorbox_tests::Tool = flavorbox_tests::Tool {
    what: "wrk",
    var: "FLAVORBOX_WRK",
    default: "/usr/bin/wrk",
    install: "scripts/bench.sh",
};

/// One row's figures.
pub struct Measured {
    pub rate: f64,
    pub p50: Duration,
    pub p99: Duration,
}

/// What one load run sends: `GET url` with the header `name: value`.
pub struct Load<'a> {
    pub url: String,
    pub header: &'a str,
    pub value: &'a str,
    pub threads: u32,
    pub connections: u32,
    pub secs: u64,
}

impl Load<'_> {
    /// Runs wrk; panics (failing the bench) on anything but a clean report
    /// of 2xx answers.
    pub fn run(&self) -> Measured {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let value_file = dir.path().join("header-value");
        write_private(&value_file, self.value);
        let script = dir.path().join("request.lua");
        write_private(
            &script,
            &format!(
                "local file = assert(io.open(\"{}\"))\n\
                 local value = file:read(\"*l\")\n\
                 file:close()\n\
                 wrk.headers[\"{}\"] = value\n",
                value_file.display(),
                self.header
            ),
        );
        let output = Command::new(WRK.installed())
            .arg(format!("-t{}", self.threads))
            .arg(format!("-c{}", self.connections))
            .arg(format!("-d{}s", self.secs))
            .arg("--latency")
            .arg("-s")
            .arg(&script)
            .arg(&self.url)
            .output()
            .expect("wrk runs");
        let report = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "wrk failed: {report}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        parse(&report).unwrap_or_else(|why| panic!("{why}:\n{report}"))
    }
}

fn write_private(path: &Path, text: &str) {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .expect("a private file");
}

/// The figures of wrk's `--latency` report.
fn parse(report: &str) -> Result<Measured, String> {
    if let Some(line) = report.lines().find(|l| {
        let l = l.trim_start();
        l.starts_with("Non-2xx") || l.starts_with("Socket errors")
    }) {
        return Err(format!("wrk saw failed requests ({})", line.trim()));
    }
    let field = |prefix: &str| {
        report
            .lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .map(str::trim)
            .ok_or_else(|| format!("wrk's report has no `{prefix}`"))
    };
    let rate = field("Requests/sec:")?
        .parse()
        .map_err(|e| format!("requests/s: {e}"))?;
    Ok(Measured {
        rate,
        p50: duration(field("50%")?)?,
        p99: duration(field("99%")?)?,
    })
}

/// wrk's `1.23ms`, `812.00us`, `1.02s`.
fn duration(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .ok_or_else(|| format!("`{text}` has no unit"))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().map_err(|e| format!("`{text}`: {e}"))?;
    let scale = match unit {
        "us" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" => 60.0,
        _ => return Err(format!("`{text}`: unknown unit")),
    };
    Ok(Duration::from_secs_f64(number * scale))
}
