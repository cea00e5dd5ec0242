//! How cost grows with the work, and what a whole CLI process costs, each
//! against a baseline measured in the same run:
//!
//! | row | subject | baseline |
//! |---|---|---|
//! | get / update / delete at 10,000 and 100,000 secrets | one sandbox call on `local` in a namespace of that size (quota raised) | the same call at 100 secrets |
//! | list 100,000 names | `get-all-secret-keys` at 100,000 | the same at 100 |
//! | import 10,000 secrets | `Manager::register_all` (through `Home`) | per secret: one `register-secret` at 100 |
//! | 2 threads sharing one `Home` | `get-secret` ops/s with two threads | the same with one thread |
//! | CLI `secret get`, whole process | `flavorbox secret get --key` (release build), median of 30 | `native-floor`: a Rust process that opens the same SQLite store and prints the row |
//!
//! Each figure is a median of repeated runs; nothing is asserted about time.
//! Run: `cargo build --release -p flavorbox-cli && cargo bench -p flavorbox-tests
//! --bench scale` (the CLI row needs the release `flavorbox` binary and is
//! left out, with a note, without it). Takes about two minutes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use flavorbox::managers::Deletion;
use flavorbox::registry::local_policy;
use flavorbox::sandbox::Export;
use flavorbox::sandbox::exports::{
    GetAllSecretKeys, GetSecret, PurgeSecret, RegisterSecret, UpdateSecret,
};
use flavorbox::store::TxnMode;
use flavorbox::{Home, Secret};
use flavorbox_tests::bench::{LocalNamespace, human, median};

/// Namespace sizes measured; the first is the baseline.
const SIZES: [usize; 3] = [100, 10_000, 100_000];
/// Calls timed per operation and size.
const SAMPLES: usize = 300;
/// Listings timed per size.
const LIST_SAMPLES: usize = 9;
/// Secrets in the import row: within what one `local` manager may hold
/// (10,000 storage keys; each secret takes its record and one version's
/// values).
const IMPORT: usize = 4_000;
/// `get-secret` calls per thread in the threads row.
const THREAD_OPS: usize = 4_000;
/// The manager of the rows that go through `Home`.
const SMALL: &str = "small";
/// Whole CLI processes timed.
const PROCESSES: usize = 30;

fn secret(name: &str) -> Secret {
    Secret::new(
        name,
        "arbitrary",
        vec![
            ("username".to_string(), format!("user-{name}")),
            ("password".to_string(), format!("pw-{name}-0123456789")),
        ],
    )
    .expect("valid secret")
}

/// One `local` namespace driven by sandbox calls with a raised quota.
struct Namespace(LocalNamespace);

impl Namespace {
    fn call<E: Export>(&self, export: &E) -> E::Answer {
        self.0.call(export)
    }

    /// Grows the namespace to `to` secrets named `s0`, `s1`, ...: `s0`
    /// through the flavor, the rest as copies of its stored entry written in
    /// one transaction (through the sealing layer, as the flavor's writes
    /// are), so seeding 100,000 does not take 100,000 synchronous commits.
    /// Stores copies of `s0` as `s{from}`..`s{to}`: every entry the
    /// `local` flavor keeps for it (its record under `secrets/`, each
    /// version's values under `versions/s0/`), under the new name.
    fn fill(&self, from: usize, to: usize) {
        if from == 0 {
            self.call(&RegisterSecret(&secret("s0")));
        }
        let template: Vec<(String, Vec<u8>)> = {
            let mut txn = self
                .0
                .db
                .namespace(self.0.id, TxnMode::Read)
                .expect("read txn");
            let mut keys = vec!["secrets/s0".to_string()];
            keys.extend(txn.list_keys("versions/s0/").expect("list s0's versions"));
            keys.into_iter()
                .map(|key| {
                    let value = txn.get(&key).expect("read s0").expect("s0 is stored");
                    (key, value)
                })
                .collect()
        };
        let mut txn = self
            .0
            .db
            .namespace(self.0.id, TxnMode::Write)
            .expect("write txn");
        for i in from.max(1)..to {
            for (key, value) in &template {
                let renamed = key
                    .replacen("secrets/s0", &format!("secrets/s{i}"), 1)
                    .replacen("versions/s0/", &format!("versions/s{i}/"), 1);
                txn.set(&renamed, value).expect("seed");
            }
        }
        txn.commit().expect("commit the seed");
    }

    fn timed<E: Export>(&self, samples: usize, mut make: impl FnMut(usize) -> E) -> Duration {
        let mut times = Vec::with_capacity(samples);
        for i in 0..samples {
            let export = make(i);
            let started = Instant::now();
            self.call(&export);
            times.push(started.elapsed());
        }
        median(times)
    }
}

struct Row {
    what: String,
    subject: Duration,
    baseline: Duration,
    /// Subject over baseline, or baseline over subject for throughput.
    ratio: f64,
}

fn scaling(home: &Home, rows: &mut Vec<Row>) {
    let mut policy = local_policy();
    policy.limits.storage.keys = 1_000_000;
    policy.limits.storage.bytes = 1 << 30;
    policy.limits.timeout_ms = 60_000;
    let ns = Namespace(LocalNamespace::of(home, None, policy));
    let mut base: Option<[Duration; 4]> = None;
    let mut filled = 0;
    for size in SIZES {
        let started = Instant::now();
        ns.fill(filled, size);
        filled = size;
        eprintln!("scale: {size} secrets stored (+{:?})", started.elapsed());
        let get = ns.timed(SAMPLES, |i| GetSecret(leak(format!("s{}", i * 7 % size))));
        let updated: Vec<Secret> = (0..SAMPLES)
            .map(|i| {
                let name = format!("s{}", i * 13 % size);
                Secret::new(
                    &name,
                    "arbitrary",
                    vec![("password".into(), format!("new-{i}"))],
                )
                .unwrap()
            })
            .collect();
        let update = ns.timed(SAMPLES, |i| UpdateSecret(leak_secret(updated[i].clone())));
        // Delete, then put the secret back (untimed) so the size holds.
        let mut deletes = Vec::with_capacity(SAMPLES);
        for i in 0..SAMPLES {
            let name = format!("s{}", i * 17 % size);
            let started = Instant::now();
            ns.call(&PurgeSecret(&name));
            deletes.push(started.elapsed());
            ns.call(&RegisterSecret(&secret(&name)));
        }
        let delete = median(deletes);
        let list = ns.timed(LIST_SAMPLES, |_| GetAllSecretKeys);
        let figures = [get, update, delete, list];
        match base {
            None => base = Some(figures),
            Some(base) => {
                for (i, op) in ["get", "update", "delete", "list names"].iter().enumerate() {
                    rows.push(Row {
                        what: format!("{op} at {size} secrets vs at {}", SIZES[0]),
                        subject: figures[i],
                        baseline: base[i],
                        ratio: figures[i].as_secs_f64() / base[i].as_secs_f64(),
                    });
                }
            }
        }
    }
}

/// The exports borrow their argument; the few thousand names leaked here
/// live as long as the bench process anyway.
fn leak(name: String) -> &'static str {
    Box::leak(name.into_boxed_str())
}

fn leak_secret(secret: Secret) -> &'static Secret {
    Box::leak(Box::new(secret))
}

fn import(home: &Home, rows: &mut Vec<Row>, per_register: Duration) {
    home.managers()
        .register("import", "local", BTreeMap::new(), false)
        .expect("a second manager");
    let manager = home.manager(Some("import")).expect("import manager");
    let secrets: Vec<Secret> = (0..IMPORT).map(|i| secret(&format!("i{i}"))).collect();
    let started = Instant::now();
    manager
        .register_all(&secrets, Default::default(), &|_, _| {})
        .expect("import");
    let took = started.elapsed();
    rows.push(Row {
        what: format!("import {IMPORT} secrets (Home, all or nothing) vs {IMPORT} x one register"),
        subject: took,
        baseline: per_register * IMPORT as u32,
        ratio: took.as_secs_f64() / (per_register * IMPORT as u32).as_secs_f64(),
    });
}

fn threads(home: &Home, rows: &mut Vec<Row>) {
    let manager = home.manager(Some(SMALL)).expect("small manager");
    manager
        .register_secret(&secret("shared"))
        .expect("register");
    let run = |threads: usize| {
        let started = Instant::now();
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    let manager = home.manager(Some(SMALL)).expect("small manager");
                    for _ in 0..THREAD_OPS {
                        manager.get_secret("shared").expect("get");
                    }
                });
            }
        });
        (threads * THREAD_OPS) as f64 / started.elapsed().as_secs_f64()
    };
    run(1); // warm up
    let one = run(1);
    let two = run(2);
    rows.push(Row {
        what: format!("2 threads sharing one Home: get ops/s ({two:.0}) vs 1 thread ({one:.0})"),
        subject: Duration::from_secs_f64(1.0 / two),
        baseline: Duration::from_secs_f64(1.0 / one),
        ratio: two / one,
    });
}

/// `<target>/release/flavorbox`, next to this bench's own directory.
fn release_cli() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?.parent()?.join("flavorbox");
    bin.is_file().then_some(bin)
}

fn process_median(mut command: impl FnMut() -> Command) -> Duration {
    let mut times = Vec::with_capacity(PROCESSES);
    for _ in 0..PROCESSES + 2 {
        let started = Instant::now();
        let out = command().output().expect("run process");
        let took = started.elapsed();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        times.push(took);
    }
    times.drain(..2); // warm-ups: page cache, compile cache
    median(times)
}

fn cli_process(home_dir: &Path, home: &Home, rows: &mut Vec<Row>) -> Result<(), String> {
    let cli = release_cli()
        .ok_or("no release build of flavorbox (cargo build --release -p flavorbox-cli)")?;
    let manager = home.manager(Some(SMALL)).map_err(|e| e.to_string())?;
    manager
        .register_secret(&secret("cli_bench"))
        .map_err(|e| e.to_string())?;
    let id = manager.record().id.to_string();
    let flavorbox = process_median(|| {
        let mut cmd = Command::new(&cli);
        cmd.arg("--home")
            .arg(home_dir)
            .args(["secret", "get", "cli_bench", "--key", "password"])
            .args(["--manager", SMALL])
            .env_remove("FLAVORBOX_CACHE_DIR")
            .env_remove("FLAVORBOX_MASTER_KEY");
        cmd
    });
    let store = home_dir.join("flavorbox.db");
    let floor = process_median(|| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_native-floor"));
        cmd.arg(&store).arg(&id).arg("secrets/cli_bench");
        cmd
    });
    rows.push(Row {
        what: format!("CLI `secret get` process (median of {PROCESSES}) vs native floor process"),
        subject: flavorbox,
        baseline: floor,
        ratio: flavorbox.as_secs_f64() / floor.as_secs_f64(),
    });
    Ok(())
}

fn main() {
    // `cargo test --benches` runs this with `--test`-less args too; only a
    // `cargo bench` run (which passes `--bench`) measures.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let dir = tempfile::Builder::new()
        .prefix("flavorbox-scale-")
        .tempdir()
        .expect("temp dir");
    let home_dir = dir.path().join("home");
    let home = Home::builder(&home_dir).open().expect("open home");
    let mut rows = Vec::new();
    let mut notes = Vec::new();

    let started = Instant::now();
    scaling(&home, &mut rows);
    // The per-secret baseline of the import: one register at 100 secrets,
    // through the same `Home` path.
    // A second manager for the Home-level rows (the active one holds
    // 100,000 secrets, past `local`'s default quota).
    home.managers()
        .register(SMALL, "local", BTreeMap::new(), false)
        .expect("a small manager");
    let manager = home.manager(Some(SMALL)).expect("small manager");
    let mut registers = Vec::new();
    for i in 0..SAMPLES {
        let s = secret(&format!("r{i}"));
        let t = Instant::now();
        manager.register_secret(&s).expect("register");
        registers.push(t.elapsed());
        manager
            .delete_secret(s.name(), Deletion::Purge)
            .expect("delete");
    }
    drop(manager);
    import(&home, &mut rows, median(registers));
    threads(&home, &mut rows);
    if let Err(why) = cli_process(&home_dir, &home, &mut rows) {
        notes.push(format!("CLI process row left out: {why}"));
    }

    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nflavorbox scale summary (medians; ratio = subject / baseline, threads: speedup)\n"
    );
    let _ = writeln!(
        out,
        "{:<78} {:>11} {:>11} {:>7}",
        "comparison", "subject", "baseline", "ratio"
    );
    for row in &rows {
        let _ = writeln!(
            out,
            "{:<78} {:>11} {:>11} {:>6.2}x",
            row.what,
            human(row.subject.as_nanos() as f64),
            human(row.baseline.as_nanos() as f64),
            row.ratio
        );
    }
    for note in notes {
        let _ = writeln!(out, "\n{note}");
    }
    let _ = writeln!(out, "\n(measured in {:.0?})", started.elapsed());
    println!("{out}");
}
