//! What the sandbox costs: each flavorbox path is measured next to a native
//! baseline that does the same work without wasm, in the same run, and the
//! ratio between the two medians is what to watch (wall-clock numbers depend
//! on the machine and on whatever else it is doing).
//!
//! | group | flavorbox | native baseline |
//! |---|---|---|
//! | `get-secret` | `Manager::get_secret` on `local` (2-key secret) | the same encoded secret in a `HashMap`, decoded with serde_json + base64 |
//! | `register-delete` | `Manager::register_secret` + `delete_secret` | the same two write transactions on a rusqlite table (WAL, `synchronous = FULL`) |
//! | `aws-get` | `Manager::get_secret` on the `aws` flavor against a moto server on loopback | one HTTP round trip to the same moto server, no sandbox |
//! | `raw-call` | `Sandbox::info`, no storage | the same `info()` answer (read once from the component) copied and checked natively |
//! | `load` | `Sandbox::new` + `load` from a warm compile cache | `Sandbox::new(SandboxConfig::default())` + `load` (compiles) |
//! | `python-get` | `Manager::get_secret` on `examples/pykv`, a Python flavor (2-key secret) | the same get on the Rust `local` flavor, and the native `get-secret` baseline |
//! | `masking` | a `Masker` built over 1,000 values, masking 1 MiB of output line by line (as a call's log records are) | the same lines copied |
//!
//! Extra rows break a flavorbox path down (e.g. a sandbox call without the
//! `Home` plumbing around it). A summary table of medians and ratios is
//! printed at the end and written to `<target>/criterion/flavorbox-summary.txt`.
//!
//! Run: `cargo bench -p flavorbox-tests --bench calls` (a filter after `--`
//! runs a subset; the summary then only lists the pairs that ran). The
//! `aws-get` pair needs moto (`scripts/install-moto.sh`); without it the pair
//! is left out and the summary says so; so is the `python-get` pair without
//! componentize-py (`scripts/install-componentize.sh`) or a cached build of
//! `examples/pykv` (the `sdk` suite makes one).
//!
//! The baselines are in `native.rs`, the masking pair in `masking.rs`, the
//! summary in `summary.rs`.

mod masking;
mod native;
mod summary;

use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use criterion::{BatchSize, Criterion};
use flavorbox::managers::Deletion;
use flavorbox::registry::{RegisterOptions, local_policy, local_source};
use flavorbox::sandbox::cache::CompileCache;
use flavorbox::sandbox::exports::{GetSecret, PurgeSecret, RegisterSecret};
use flavorbox::sandbox::{Sandbox, SandboxConfig};
use flavorbox::{Home, Secret};
use flavorbox_tests::bench::LocalNamespace;
use flavorbox_tests::home::config;
use flavorbox_tests::moto::try_moto;
use flavorbox_tests::{TestHome, components, guests, workspace};
use native::{NativeSqlite, native_encode, native_get, native_info, wit_info};
use serde_json::json;
use summary::{criterion_dir, summary};

/// The secret read by `get-secret`: two keys, as `basic_auth` wants.
const GET_NAME: &str = "db_creds";
/// The secret created and deleted by `register-delete`.
const RW_NAME: &str = "bench_rw";
/// Where the `local` flavor keeps a secret.
const PREFIX: &str = "secrets/";

fn two_key_secret(name: &str) -> Secret {
    Secret::new(
        name,
        "basic_auth",
        [
            ("username".to_string(), "admin".to_string()),
            (
                "password".to_string(),
                "correct-horse-battery-staple".to_string(),
            ),
        ],
    )
    .expect("a valid secret")
}

// ----- fixtures -----------------------------------------------------------------------

struct Fixture {
    dir: tempfile::TempDir,
    home: Home,
    /// The active manager's namespace on `local`, for calls without `Home`.
    ns: LocalNamespace,
    /// A compile cache holding `local`, for warm starts.
    cache_dir: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::Builder::new()
            .prefix("flavorbox-bench-")
            .tempdir()
            .expect("temp dir");
        let home = Home::builder(dir.path().join("home"))
            .open()
            .expect("open home");
        let secret = two_key_secret(GET_NAME);
        let manager = home.manager(None).expect("active manager");
        manager
            .register_secret(&secret)
            .expect("register the benchmark secret");
        assert_eq!(manager.get_secret(GET_NAME).expect("read back"), secret);
        drop(manager);
        let ns = LocalNamespace::of(&home, None, local_policy());

        let cache_dir = dir.path().join("cache");
        Sandbox::new(SandboxConfig::cached_in(cache_dir.clone()))
            .expect("sandbox")
            .load(&local_source(), home.db())
            .expect("warm the compile cache");
        assert!(
            std::fs::read_dir(&cache_dir)
                .map(|d| d.count() > 0)
                .unwrap_or(false),
            "the compile cache was not written"
        );
        Fixture {
            dir,
            home,
            ns,
            cache_dir,
        }
    }
}

// ----- benchmarks ---------------------------------------------------------------------

fn bench_get_secret(c: &mut Criterion, fx: &Fixture) {
    let mut group = c.benchmark_group("get-secret");
    let manager = fx.home.manager(None).expect("active manager");
    group.bench_function("flavorbox-home", |b| {
        b.iter(|| manager.get_secret(black_box(GET_NAME)).expect("get"))
    });

    let secret = two_key_secret(GET_NAME);
    let mut map = HashMap::new();
    map.insert(format!("{PREFIX}{GET_NAME}"), native_encode(&secret));
    assert_eq!(native_get(&map, GET_NAME), secret);
    group.bench_function("native-hashmap-json", |b| {
        b.iter(|| native_get(black_box(&map), black_box(GET_NAME)))
    });

    // Breakdown: the same get as one sandbox call, without the manager's
    // schema and name checks.
    group.bench_function("flavorbox-sandbox-call", |b| {
        b.iter(|| fx.ns.call(&GetSecret(black_box(GET_NAME))))
    });
    // Breakdown: binding the active manager (record lookup, flavor loaded),
    // which every CLI command does once.
    group.bench_function("manager-lookup", |b| {
        b.iter(|| fx.home.manager(black_box(None)).expect("active manager"))
    });
    group.finish();
}

fn bench_register_delete(c: &mut Criterion, fx: &Fixture) {
    let mut group = c.benchmark_group("register-delete");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(10));
    let secret = two_key_secret(RW_NAME);
    let manager = fx.home.manager(None).expect("active manager");
    group.bench_function("flavorbox-home", |b| {
        b.iter(|| {
            manager
                .register_secret(black_box(&secret))
                .expect("register");
            manager
                .delete_secret(RW_NAME, Deletion::Purge)
                .expect("delete");
        })
    });

    let mut native = NativeSqlite::open(&fx.dir.path().join("native.db"));
    native.register(&two_key_secret(GET_NAME));
    group.bench_function("native-rusqlite", |b| {
        b.iter(|| {
            native.register(black_box(&secret));
            native.delete(RW_NAME);
        })
    });

    // Breakdown: the two calls straight into the sandbox, without the
    // manager's checks.
    group.bench_function("flavorbox-sandbox-call", |b| {
        b.iter(|| {
            fx.ns.call(&RegisterSecret(&secret));
            fx.ns.call(&PurgeSecret(RW_NAME));
        })
    });
    group.finish();
}

/// `get-secret` on the `aws` flavor against moto, next to one plain HTTP
/// request to the same server (what the flavor's call costs at the least).
fn bench_aws_get(c: &mut Criterion) -> Result<(), String> {
    let moto = try_moto()?;
    let home = TestHome::new();
    let origin = moto.origin();
    let options = RegisterOptions {
        allow_hosts: vec![origin.clone()],
        ..Default::default()
    };
    let config = config(&[
        ("region", "us-east-1"),
        ("endpoint", origin.as_str()),
        ("aws_access_key_id", "testing"),
        ("aws_secret_access_key", "testing"),
        ("namespace", "bench"),
    ]);
    home.register_in_library(guests::AWS, &options, &[("aws", config)]);
    let manager = home.home.manager(Some("aws")).map_err(|e| e.to_string())?;
    let secret = two_key_secret(GET_NAME);
    let _ = manager.delete_secret(GET_NAME, Deletion::Purge);
    manager
        .register_secret(&secret)
        .map_err(|e| format!("registering the bench secret on moto: {e}"))?;

    let mut group = c.benchmark_group("aws-get");
    group.sample_size(30);
    group.bench_function("flavorbox-home", |b| {
        b.iter(|| manager.get_secret(black_box(GET_NAME)).expect("get"))
    });
    group.bench_function("native-http", |b| {
        b.iter(|| {
            let answer = moto
                .request("ListSecrets", &json!({}))
                .expect("moto answers");
            assert_eq!(answer.status, 200, "{answer:?}");
        })
    });
    group.finish();
    let _ = manager.delete_secret(GET_NAME, Deletion::Purge);
    Ok(())
}

/// `get-secret` on a Python flavor (the storage-backed example, an 18 MB
/// component with its interpreter) next to the same get on the Rust `local`
/// flavor and natively: what writing a flavor in Python costs per call.
fn bench_python_get(c: &mut Criterion, fx: &Fixture) -> Result<(), String> {
    let wasm = components::try_component(&workspace().join("examples/pykv"))?;
    let options = RegisterOptions {
        grants: [flavorbox::policy::Capability::Storage].into(),
        ..Default::default()
    };
    let flavor = fx
        .home
        .flavors()
        .register(&wasm, &options)
        .map_err(|e| format!("registering the Python flavor: {e}"))?
        .entry
        .description
        .name;
    fx.home
        .managers()
        .register("python", &flavor, BTreeMap::new(), false)
        .map_err(|e| format!("registering the Python manager: {e}"))?;
    let python = fx.home.manager(Some("python")).map_err(|e| e.to_string())?;
    let secret = two_key_secret(GET_NAME);
    python
        .register_secret(&secret)
        .map_err(|e| format!("registering the bench secret: {e}"))?;
    assert_eq!(python.get_secret(GET_NAME).expect("read back"), secret);
    let local = fx.home.manager(None).expect("active manager");
    let mut map = HashMap::new();
    map.insert(format!("{PREFIX}{GET_NAME}"), native_encode(&secret));

    let mut group = c.benchmark_group("python-get");
    group.sample_size(30);
    group.bench_function("flavorbox-python", |b| {
        b.iter(|| python.get_secret(black_box(GET_NAME)).expect("get"))
    });
    group.bench_function("flavorbox-local", |b| {
        b.iter(|| local.get_secret(black_box(GET_NAME)).expect("get"))
    });
    group.bench_function("native-hashmap-json", |b| {
        b.iter(|| native_get(black_box(&map), black_box(GET_NAME)))
    });
    group.finish();
    Ok(())
}

fn bench_raw_call(c: &mut Criterion, fx: &Fixture) {
    let mut group = c.benchmark_group("raw-call");
    group.bench_function("flavorbox-info", |b| {
        b.iter(|| {
            fx.ns
                .sandbox
                .info(black_box(&fx.ns.local))
                .result
                .expect("info")
        })
    });
    // The baseline checks a copy of the very answer the component gives.
    let described = fx.ns.sandbox.info(&fx.ns.local).result.expect("info");
    let answer = wit_info(&described);
    assert_eq!(native_info(&answer, described.contract), described);
    group.bench_function("native-info", |b| {
        b.iter(|| native_info(black_box(&answer), described.contract))
    });
    group.finish();
}

fn bench_load(c: &mut Criterion, fx: &Fixture) {
    let mut group = c.benchmark_group("load");
    group.sample_size(30);
    // One sandbox alive at a time (each reserves the pooling allocator's
    // address space); dropping it is not timed.
    group.bench_function("warm-cache", |b| {
        b.iter_batched(
            || (),
            |()| {
                let sandbox =
                    Sandbox::new(SandboxConfig::cached_in(fx.cache_dir.clone())).expect("sandbox");
                sandbox.load(&local_source(), fx.home.db()).expect("load");
                sandbox
            },
            BatchSize::PerIteration,
        )
    });

    // Breakdowns on an existing engine: reading the cache (checksum +
    // deserialize) and a bare `Sandbox::new` (engine, linker, runtime).
    let engine = fx.ns.sandbox.engine();
    group.bench_function("cache-read-only", |b| {
        let cache = CompileCache::new(engine, Some(fx.cache_dir.clone()), None, None);
        b.iter(|| {
            cache
                .load(engine, &local_source(), fx.home.db())
                .expect("load")
        })
    });
    group.bench_function("sandbox-new-only", |b| {
        b.iter_batched(
            || (),
            |()| Sandbox::new(SandboxConfig::default()).expect("sandbox"),
            BatchSize::PerIteration,
        )
    });

    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(15));
    group.bench_function("compile", |b| {
        b.iter_batched(
            || (),
            |()| {
                let sandbox = Sandbox::new(SandboxConfig::default()).expect("sandbox");
                sandbox
                    .load(&local_source(), fx.home.db())
                    .expect("compile");
                sandbox
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and
    // then every benchmark runs once as a test.
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| {
        args.iter()
            .any(|a| a == flag || a.starts_with(&format!("{flag}=")))
    };
    let benchmarking = has("--bench") && !has("--test") && !has("--list") && !has("--profile-time");
    // Timestamps of files can be a little coarse; allow for it.
    let since = SystemTime::now() - Duration::from_secs(1);

    let mut c = Criterion::default()
        .output_directory(&criterion_dir())
        .configure_from_args();
    let fx = Fixture::new();
    let mut notes = Vec::new();
    bench_get_secret(&mut c, &fx);
    bench_register_delete(&mut c, &fx);
    if let Err(why) = bench_aws_get(&mut c) {
        notes.push(format!("aws-get left out: {why}"));
    }
    if let Err(why) = bench_python_get(&mut c, &fx) {
        notes.push(format!("python-get left out: {why}"));
    }
    bench_raw_call(&mut c, &fx);
    masking::bench_masking(&mut c);
    bench_load(&mut c, &fx);
    c.final_summary();

    if benchmarking {
        println!("\n{}", summary(since, &notes));
    }
}
