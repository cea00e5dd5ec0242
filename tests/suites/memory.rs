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
use flavorbox_tests::{CliHome, Run, free_port, guests};

const MIB: u64 = 1024 * 1024;

/// The peak resident memory of `home`'s CLI doing honest work: a call on
/// `local` and one on the second flavor `kv_json`, each loading its
/// compiled code from the cache (the first call of a fresh home compiles
/// `local`, which is not what a call costs). The bound is counted from here.
fn footprint(home: &CliHome) -> u64 {
    home.cli_register(guests::KV_JSON, "honest", &[], false);
    home.on("honest", &["secret", "register", "s", "k=v"]).ok();
    home.cli(&["secret", "list"]).ok();
    [
        home.on("honest", &["secret", "get", "s"]),
        home.cli(&["secret", "list"]),
    ]
    .iter()
    .map(|run| run.peak_rss)
    .max()
    .unwrap()
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
    let home = CliHome::new();
    let footprint = footprint(&home);
    // Registering runs its flooding info().
    let guest = guests::HOSTILE_LOG_EMPTY;
    let run = home.register_flavor(
        guest,
        &["--grant", "storage", "--memory", "16", "--timeout", "30"],
    );
    run.ok();
    within_bound(&run, footprint, 64);
    home.register_manager("h", guest.name(), &[], &[]);
    home.on("h", &["secret", "register", "s", "k=v"]).ok();
    let run = home.on("h", &["secret", "get", "s"]);
    run.ok();
    within_bound(&run, footprint, 16);
}

#[test]
fn wasi_http_hoards_with_and_without_the_grant() {
    let home = CliHome::new();
    let footprint = footprint(&home);
    home.cli_register(guests::HOSTILE_HTTP_HOARD, "h", &["--memory", "16"], false);
    let run = home.on("h", &["secret", "get", "s"]);
    run.fails(
        1,
        "denied: flavor `hostile_http_hoard` declares capability `http`",
    );
    within_bound(&run, footprint, 16);

    let origin = format!("http://127.0.0.1:{}", free_port());
    let granted = CliHome::new();
    granted.cli_register(
        guests::HOSTILE_HTTP_HOARD,
        "h",
        &["--memory", "16", "--allow-host", &origin],
        false,
    );
    let run = granted.on("h", &["secret", "register", "x", "k=v"]);
    run.fails(3, "sandbox: limit:");
    within_bound(&run, footprint, 16);

    // Inside info(), at registration.
    let run = home.register_flavor(guests::HOSTILE_INFO_HOARD, &[]);
    run.fails(2, "sandbox: denied:");
    within_bound(&run, footprint, 64);
}

#[test]
fn oversized_answers_and_descriptions() {
    let home = CliHome::new();
    let footprint = footprint(&home);
    home.cli_register(guests::HOSTILE_HUGE_ANSWER, "h", &[], false);
    for args in [
        &["secret", "get", "million-keys"][..],
        &["secret", "list"],
        &["secret", "get", "many-keys"],
    ] {
        let run = home.on("h", args);
        assert_eq!(run.code, 3, "{run:#?}");
        within_bound(&run, footprint, 64);
    }
    let run = home.register_flavor(guests::HOSTILE_BIG_INFO, &[]);
    run.fails(2, "sandbox: garbage:");
    within_bound(&run, footprint, 64);
}

#[test]
fn masking_a_flood_of_short_values() {
    let home = CliHome::new();
    let footprint = footprint(&home);
    home.cli_register(
        guests::HOSTILE_MASK_BOMB,
        "h",
        &["--memory", "16", "--timeout", "10"],
        false,
    );
    let run = home.on("h", &["secret", "get", "bomb"]);
    run.ok();
    within_bound(&run, footprint, 16);
}

#[test]
fn storage_writes_staged_up_to_the_quota() {
    let home = CliHome::new();
    let footprint = footprint(&home);
    // 256 KiB values until the 16 MiB quota refuses: all of it staged.
    home.cli_register(
        guests::HOSTILE_STORAGE_FLOOD,
        "h",
        &["--memory", "16"],
        false,
    );
    let run = home.on("h", &["secret", "register", "flood", "k=v"]);
    run.fails(3, "sandbox: quota:");
    within_bound(&run, footprint, 16);
}

#[test]
fn a_compile_bomb() {
    let home = CliHome::new();
    let footprint = footprint(&home);
    // The compiler child is bounded (its peak is counted here too).
    let run = home.register_flavor(guests::HOSTILE_COMPILE_BOMB, &["--compile-memory", "128"]);
    run.fails(2, "needed more than 128 MiB");
    within_bound(&run, footprint, 128);
}
