//! The bound on host memory the README states, under every attack on it:
//! a CLI process running one call holds at most its idle footprint plus the
//! flavor's linear-memory cap plus `caps::HOST_MEMORY_MARGIN`, whatever the
//! flavor does (log floods, `wasi:http` hoards with and without the grant,
//! oversized answers and descriptions, staged writes, a compile bomb).
//!
//! Each process's peak resident memory is read with `wait4` (`Run::peak_rss`).
//! Linux counts a child's peak from the resident memory of the process that
//! forked it, so this suite spawns only CLI processes and never runs a
//! flavor itself: its own footprint stays far below what it measures.

use flavorbox::policy::caps;
use flavorbox_tests::{Run, guest, run_cli};

const MIB: u64 = 1024 * 1024;

/// A throwaway home driven only through the CLI.
struct Home(tempfile::TempDir);

impl Home {
    fn new() -> Home {
        Home(tempfile::tempdir().expect("temp dir"))
    }

    fn cli(&self, args: &[&str]) -> Run {
        run_cli(Some(self.0.path()), args, None)
    }

    /// Registers the guest `flavor` with `storage` and `flags`, and the
    /// manager `manager` on it.
    fn register(&self, flavor: &str, manager: &str, flags: &[&str]) {
        let wasm = guest(flavor);
        let mut args = vec![
            "flavor",
            "register",
            wasm.to_str().unwrap(),
            "--grant",
            "storage",
        ];
        args.extend_from_slice(flags);
        self.cli(&args).ok();
        self.cli(&["secrets-manager", "register", manager, "--flavor", flavor])
            .ok();
    }

    /// Runs `args` on manager `h`.
    fn on_h(&self, args: &[&str]) -> Run {
        let mut args = args.to_vec();
        args.extend(["--manager", "h"]);
        self.cli(&args)
    }

    /// The peak resident memory of this home's CLI doing honest work: a
    /// call on `local` and one on the second flavor `kv_json`, each loading
    /// its compiled code from the cache (the first call of a fresh home
    /// compiles `local`, which is not what a call costs). The bound is
    /// counted from here.
    fn footprint(&self) -> u64 {
        self.register("kv_json", "honest", &[]);
        self.cli(&["secret", "register", "s", "k=v", "--manager", "honest"])
            .ok();
        self.cli(&["secret", "list"]).ok();
        [
            self.cli(&["secret", "get", "s", "--manager", "honest"]),
            self.cli(&["secret", "list"]),
        ]
        .iter()
        .map(|run| run.peak_rss)
        .max()
        .unwrap()
    }
}

/// Asserts `run` held at most the linear-memory cap (`memory_mib`) plus the
/// stated margin over `footprint`.
#[track_caller]
fn within_bound(run: &Run, footprint: u64, memory_mib: u64) {
    let bound = footprint + memory_mib * MIB + caps::HOST_MEMORY_MARGIN;
    // Shown with `--nocapture`: the figures the README's bound is held to.
    eprintln!(
        "peak {} MiB, footprint {} MiB, bound {} MiB ({} s): {}",
        run.peak_rss / MIB,
        footprint / MIB,
        bound / MIB,
        run.elapsed.as_secs_f64(),
        run.stderr.lines().last().unwrap_or("ok")
    );
    assert!(
        run.peak_rss <= bound,
        "peak resident memory {} MiB, past the bound {} MiB (footprint {} MiB + {} MiB linear \
         memory + {} MiB margin): {run:#?}",
        run.peak_rss / MIB,
        bound / MIB,
        footprint / MIB,
        memory_mib,
        caps::HOST_MEMORY_MARGIN / MIB
    );
}

#[test]
fn a_flood_of_empty_log_lines() {
    let home = Home::new();
    let footprint = home.footprint();
    // Registering runs its flooding info().
    let wasm = guest("hostile_log_empty");
    let run = home.cli(&[
        "flavor",
        "register",
        wasm.to_str().unwrap(),
        "--grant",
        "storage",
        "--memory",
        "16",
        "--timeout",
        "30",
    ]);
    run.ok();
    within_bound(&run, footprint, 64);
    home.cli(&[
        "secrets-manager",
        "register",
        "h",
        "--flavor",
        "hostile_log_empty",
    ])
    .ok();
    home.on_h(&["secret", "register", "s", "k=v"]).ok();
    let run = home.on_h(&["secret", "get", "s"]);
    run.ok();
    within_bound(&run, footprint, 16);
}

#[test]
fn wasi_http_hoards_with_and_without_the_grant() {
    let home = Home::new();
    let footprint = home.footprint();
    home.register("hostile_http_hoard", "h", &["--memory", "16"]);
    let run = home.on_h(&["secret", "get", "s"]);
    run.fails(3, "sandbox: denied:");
    within_bound(&run, footprint, 16);

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = format!("http://127.0.0.1:{}", closed.local_addr().unwrap().port());
    drop(closed);
    let granted = Home::new();
    granted.register(
        "hostile_http_hoard",
        "h",
        &["--memory", "16", "--allow-host", &origin],
    );
    let run = granted.on_h(&["secret", "register", "x", "k=v"]);
    run.fails(3, "sandbox: limit:");
    within_bound(&run, footprint, 16);

    // Inside info(), at registration.
    let wasm = guest("hostile_info_hoard");
    let run = home.cli(&["flavor", "register", wasm.to_str().unwrap()]);
    run.fails(2, "sandbox: denied:");
    within_bound(&run, footprint, 64);
}

#[test]
fn oversized_answers_and_descriptions() {
    let home = Home::new();
    let footprint = home.footprint();
    home.register("hostile_huge_answer", "h", &[]);
    for args in [
        &["secret", "get", "million-keys"][..],
        &["secret", "list"],
        &["secret", "get", "many-keys"],
    ] {
        let run = home.on_h(args);
        assert_eq!(run.code, 3, "{run:#?}");
        within_bound(&run, footprint, 64);
    }
    let wasm = guest("hostile_big_info");
    let run = home.cli(&["flavor", "register", wasm.to_str().unwrap()]);
    run.fails(2, "sandbox: garbage:");
    within_bound(&run, footprint, 64);
}

#[test]
fn masking_a_flood_of_short_values() {
    let home = Home::new();
    let footprint = home.footprint();
    home.register(
        "hostile_mask_bomb",
        "h",
        &["--memory", "16", "--timeout", "10"],
    );
    let run = home.on_h(&["secret", "get", "bomb"]);
    run.ok();
    within_bound(&run, footprint, 16);
}

#[test]
fn storage_writes_staged_up_to_the_quota() {
    let home = Home::new();
    let footprint = home.footprint();
    // 256 KiB values until the 16 MiB quota refuses: all of it staged.
    home.register("hostile_storage_flood", "h", &["--memory", "16"]);
    let run = home.on_h(&["secret", "register", "flood", "k=v"]);
    run.fails(3, "sandbox: quota:");
    within_bound(&run, footprint, 16);
}

#[test]
fn a_compile_bomb() {
    let home = Home::new();
    let footprint = home.footprint();
    let wasm = guest("hostile_compile_bomb");
    // The compiler child is bounded (its peak is counted here too).
    let run = home.cli(&[
        "flavor",
        "register",
        wasm.to_str().unwrap(),
        "--compile-memory",
        "128",
    ]);
    run.fails(2, "needed more than 128 MiB");
    within_bound(&run, footprint, 128);
}
