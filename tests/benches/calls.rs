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

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use criterion::{BatchSize, Criterion};
use flavorbox::contract::FlavorDescription;
use flavorbox::contract::bindings::{ConfigField, FlavorInfo};
use flavorbox::mask::Masker;
use flavorbox::policy::Policy;
use flavorbox::registry::{local_policy, local_source};
use flavorbox::sandbox::cache::CompileCache;
use flavorbox::sandbox::exports::{DeleteSecret, GetSecret, RegisterSecret};
use flavorbox::sandbox::{CallSetup, Export, LoadedFlavor, Sandbox, SandboxConfig};
use flavorbox::store::{Database, NamespaceAccess};
use flavorbox::{Home, Secret};
use rusqlite::{Connection, OptionalExtension, params};

#[path = "../support/components.rs"]
mod components;
#[path = "../support/moto.rs"]
mod moto;

/// The secret read by `get-secret`: two keys, as `basic_auth` wants.
const GET_NAME: &str = "db_creds";
/// The secret created and deleted by `register-delete`.
const RW_NAME: &str = "bench_rw";
/// Where the `local` flavor keeps a secret.
const PREFIX: &str = "secrets/";
/// The key ZenML's local secrets manager keeps the schema name under.
const SCHEMA_KEY: &str = "zenml_schema_name";

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

// ----- native baselines ---------------------------------------------------------

/// What the `local` flavor stores, as JSON instead of YAML: every key mapped
/// to its base64 value, plus the schema name.
fn native_encode(secret: &Secret) -> Vec<u8> {
    let mut map = serde_json::Map::new();
    for (key, value) in secret.values() {
        map.insert(key.clone(), BASE64.encode(value).into());
    }
    map.insert(SCHEMA_KEY.to_string(), secret.schema().into());
    serde_json::to_vec(&map).expect("a map encodes")
}

/// What the `local` flavor does on `get-secret` (decode, base64, UTF-8), and
/// the same validated `Secret` the host hands back.
fn native_decode(name: &str, bytes: &[u8]) -> Secret {
    let map: BTreeMap<String, String> = serde_json::from_slice(bytes).expect("stored JSON");
    let mut schema = None;
    let mut values = Vec::with_capacity(map.len());
    for (key, value) in map {
        if key == SCHEMA_KEY {
            schema = Some(value);
            continue;
        }
        let decoded = BASE64.decode(value.as_bytes()).expect("base64");
        values.push((key, String::from_utf8(decoded).expect("UTF-8")));
    }
    Secret::new(name, schema.expect("schema name"), values).expect("a valid secret")
}

fn native_get(map: &HashMap<String, Vec<u8>>, name: &str) -> Secret {
    let bytes = map.get(&format!("{PREFIX}{name}")).expect("stored");
    native_decode(name, bytes)
}

/// A local secrets manager on SQLite without the sandbox: the same table and
/// pragmas as the flavorbox store, and per operation the same transaction
/// shape (`BEGIN IMMEDIATE`, existence check, write, commit with fsync).
struct NativeSqlite {
    conn: Connection,
}

impl NativeSqlite {
    fn open(path: &Path) -> NativeSqlite {
        let conn = Connection::open(path).expect("open native db");
        conn.busy_timeout(Duration::from_secs(10))
            .expect("busy timeout");
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
             CREATE TABLE IF NOT EXISTS kv (
                 namespace INTEGER NOT NULL,
                 key TEXT NOT NULL,
                 value BLOB NOT NULL,
                 PRIMARY KEY (namespace, key)
             ) WITHOUT ROWID;",
        )
        .expect("native layout");
        NativeSqlite { conn }
    }

    fn register(&mut self, secret: &Secret) {
        let key = format!("{PREFIX}{}", secret.name());
        let value = native_encode(secret);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .expect("begin");
        let exists = tx
            .prepare_cached("SELECT 1 FROM kv WHERE namespace = ?1 AND key = ?2")
            .expect("prepare")
            .query_row(params![1, key], |_| Ok(()))
            .optional()
            .expect("select")
            .is_some();
        assert!(!exists, "secret already exists");
        tx.prepare_cached(
            "INSERT INTO kv (namespace, key, value) VALUES (?1, ?2, ?3)
             ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value",
        )
        .expect("prepare")
        .execute(params![1, key, value])
        .expect("insert");
        tx.commit().expect("commit");
    }

    fn delete(&mut self, name: &str) {
        let key = format!("{PREFIX}{name}");
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .expect("begin");
        let n = tx
            .prepare_cached("DELETE FROM kv WHERE namespace = ?1 AND key = ?2")
            .expect("prepare")
            .execute(params![1, key])
            .expect("delete");
        assert_eq!(n, 1, "secret did not exist");
        tx.commit().expect("commit");
    }
}

/// The `info()` answer `described` came from, in its WIT form: what the
/// native baseline copies and checks.
fn wit_info(described: &FlavorDescription) -> FlavorInfo {
    FlavorInfo {
        name: described.name.clone(),
        version: described.version.clone(),
        description: described.description.clone(),
        config: described
            .config
            .iter()
            .map(|f| ConfigField {
                name: f.name.clone(),
                description: f.description.clone(),
                required: f.required,
                secret: f.secret,
            })
            .collect(),
        capabilities: described
            .capabilities
            .iter()
            .map(|c| c.as_str().to_string())
            .collect(),
    }
}

/// What the host does with an `info()` answer, without the sandbox: take a
/// copy of the answer and check it.
fn native_info(answer: &FlavorInfo) -> FlavorDescription {
    FlavorDescription::from_wit(answer.clone()).expect("a valid description")
}

// ----- fixtures -----------------------------------------------------------------------

struct Fixture {
    dir: tempfile::TempDir,
    home: Home,
    /// The home's sandbox and its `local` flavor, for calls without `Home`.
    sandbox: Arc<Sandbox>,
    local: Arc<LoadedFlavor>,
    db: Arc<dyn Database>,
    manager_id: i64,
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
        let manager_id = manager.record().id;
        drop(manager);
        let sandbox = home.sandbox().expect("sandbox").clone();
        let local = sandbox
            .load(&local_source(), home.db())
            .expect("load local");

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
        let db = home.shared_db();
        Fixture {
            dir,
            home,
            sandbox,
            local,
            db,
            manager_id,
            cache_dir,
        }
    }

    /// One call of the `local` flavor with its storage, without `Home`.
    fn call<E: Export>(&self, policy: &Policy, export: &E) -> E::Answer {
        let setup = CallSetup {
            policy,
            storage: Some(NamespaceAccess::new(self.db.clone(), self.manager_id)),
            config: BTreeMap::new(),
            mask: Vec::new(),
        };
        self.sandbox
            .call(&self.local, setup, export)
            .result
            .expect("call succeeds")
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
    let policy = local_policy();
    group.bench_function("flavorbox-sandbox-call", |b| {
        b.iter(|| fx.call(&policy, &GetSecret(black_box(GET_NAME))))
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
            manager.delete_secret(RW_NAME).expect("delete");
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
    let policy = local_policy();
    group.bench_function("flavorbox-sandbox-call", |b| {
        b.iter(|| {
            fx.call(&policy, &RegisterSecret(&secret));
            fx.call(&policy, &DeleteSecret(RW_NAME));
        })
    });
    group.finish();
}

/// `get-secret` on the `aws` flavor against moto, next to one plain HTTP
/// request to the same server (what the flavor's call costs at the least).
fn bench_aws_get(c: &mut Criterion) -> Result<(), String> {
    let moto = moto::try_shared()?;
    let home = flavorbox_tests::TestHome::new();
    let origin = moto.origin();
    let options = flavorbox::registry::RegisterOptions {
        allow_hosts: vec![origin.clone()],
        ..Default::default()
    };
    let flavor = home
        .home
        .flavors()
        .register(&flavorbox_tests::guest("aws"), &options)
        .map_err(|e| format!("registering the aws flavor: {e}"))?
        .entry
        .description
        .name;
    let config = [
        ("region", "us-east-1"),
        ("endpoint", origin.as_str()),
        ("aws_access_key_id", "testing"),
        ("aws_secret_access_key", "testing"),
        ("namespace", "bench"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let managers = home.home.managers();
    managers
        .register("aws", &flavor, config, true)
        .map_err(|e| format!("registering the aws manager: {e}"))?;
    let manager = home.home.manager(None).map_err(|e| e.to_string())?;
    let secret = two_key_secret(GET_NAME);
    let _ = manager.delete_secret(GET_NAME);
    manager
        .register_secret(&secret)
        .map_err(|e| format!("registering the bench secret on moto: {e}"))?;

    let mut group = c.benchmark_group("aws-get");
    group.sample_size(30);
    group.bench_function("flavorbox-home", |b| {
        b.iter(|| manager.get_secret(black_box(GET_NAME)).expect("get"))
    });
    group.bench_function("native-http", |b| {
        b.iter(|| moto.round_trip().expect("moto answers"))
    });
    group.finish();
    let _ = manager.delete_secret(GET_NAME);
    Ok(())
}

/// `get-secret` on a Python flavor (the storage-backed example, an 18 MB
/// component with its interpreter) next to the same get on the Rust `local`
/// flavor and natively: what writing a flavor in Python costs per call.
fn bench_python_get(c: &mut Criterion, fx: &Fixture) -> Result<(), String> {
    let wasm = components::try_component(&components::workspace().join("examples/pykv"))?;
    let options = flavorbox::registry::RegisterOptions {
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
        b.iter(|| fx.sandbox.info(black_box(&fx.local)).result.expect("info"))
    });
    // The baseline checks a copy of the very answer the component gives.
    let described = fx.sandbox.info(&fx.local).result.expect("info");
    let answer = wit_info(&described);
    assert_eq!(native_info(&answer), described);
    group.bench_function("native-info", |b| {
        b.iter(|| native_info(black_box(&answer)))
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
    let engine = fx.sandbox.engine();
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

/// Masking a call's output: the masker is built per call over the values
/// the call handled (here 1,000, of 12 to 35 bytes) and masks each line; 1
/// MiB of 64-byte lines, one in 16 holding a value. The baseline copies the
/// same lines, which masking does at the least.
fn bench_masking(c: &mut Criterion) {
    let values: Vec<String> = (0..1_000)
        .map(|i| format!("secret-{i:04}-{}", "x".repeat(i % 24)))
        .collect();
    let lines: Vec<String> = (0..16_384)
        .map(|i| {
            let line = if i % 16 == 0 {
                format!("line {i:05} token={}", values[(i * 7) % values.len()])
            } else {
                format!("line {i:05} fetched the record, nothing to report")
            };
            format!("{line:<64.64}")
        })
        .collect();
    let bytes: usize = lines.iter().map(String::len).sum();
    assert_eq!(bytes, 1 << 20);
    let masker = Masker::new(values.iter().map(String::as_str));
    let masked = masker.mask(&lines[16]);
    assert!(
        masked.starts_with("line 00016 token=*** ") && !masked.contains("secret-"),
        "{masked}"
    );

    let mut group = c.benchmark_group("masking");
    group.sample_size(30);
    group.bench_function("flavorbox-mask", |b| {
        b.iter(|| {
            let masker = Masker::new(values.iter().map(String::as_str));
            lines
                .iter()
                .map(|line| masker.mask(black_box(line)))
                .collect::<Vec<_>>()
        })
    });
    group.bench_function("native-copy", |b| {
        b.iter(|| {
            lines
                .iter()
                .map(|line| black_box(line).to_owned())
                .collect::<Vec<_>>()
        })
    });
    group.finish();
}

// ----- summary ------------------------------------------------------------------------

/// Where criterion writes its results: as criterion decides, except that the
/// target dir comes from the build (`CARGO_TARGET_TMPDIR` is `<target>/tmp`)
/// instead of asking `cargo metadata`.
fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(target).join("criterion");
    }
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .map(|target| target.join("criterion"))
        .unwrap_or_else(|| PathBuf::from("target/criterion"))
}

/// The median (ns) of `group/function`, if it was measured in this run.
fn median_ns(dir: &Path, group: &str, function: &str, since: SystemTime) -> Option<f64> {
    let path = dir.join(group).join(function).join("new/estimates.json");
    let fresh = std::fs::metadata(&path).ok()?.modified().ok()? >= since;
    if !fresh {
        return None;
    }
    let estimates: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
    estimates["median"]["point_estimate"].as_f64()
}

fn human(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.3} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.3} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

struct Pair {
    what: &'static str,
    group: &'static str,
    /// The slower path (flavorbox, or the cold start).
    subject: &'static str,
    baseline: &'static str,
}

const PAIRS: &[Pair] = &[
    Pair {
        what: "get-secret (Home, local, 2 keys) vs HashMap+serde_json+base64",
        group: "get-secret",
        subject: "flavorbox-home",
        baseline: "native-hashmap-json",
    },
    Pair {
        what: "  breakdown: one sandbox get call (no Home::bind) vs native",
        group: "get-secret",
        subject: "flavorbox-sandbox-call",
        baseline: "native-hashmap-json",
    },
    Pair {
        what: "register+delete (Home) vs rusqlite (WAL, sync=FULL)",
        group: "register-delete",
        subject: "flavorbox-home",
        baseline: "native-rusqlite",
    },
    Pair {
        what: "  breakdown: two sandbox calls (no Home::bind) vs rusqlite",
        group: "register-delete",
        subject: "flavorbox-sandbox-call",
        baseline: "native-rusqlite",
    },
    Pair {
        what: "get-secret (aws flavor, moto on loopback) vs one HTTP round trip",
        group: "aws-get",
        subject: "flavorbox-home",
        baseline: "native-http",
    },
    Pair {
        what: "get-secret (Home, Python flavor examples/pykv) vs native",
        group: "python-get",
        subject: "flavorbox-python",
        baseline: "native-hashmap-json",
    },
    Pair {
        what: "  the same vs the Rust `local` flavor (Home)",
        group: "python-get",
        subject: "flavorbox-python",
        baseline: "flavorbox-local",
    },
    Pair {
        what: "raw sandbox call (info, no storage) vs native info()",
        group: "raw-call",
        subject: "flavorbox-info",
        baseline: "native-info",
    },
    Pair {
        what: "masking 1 MiB of output against 1,000 values vs a plain copy",
        group: "masking",
        subject: "flavorbox-mask",
        baseline: "native-copy",
    },
    Pair {
        what: "cold start (new + compile) vs warm (new + cache)",
        group: "load",
        subject: "compile",
        baseline: "warm-cache",
    },
    Pair {
        what: "  breakdown: compile vs cache read only (same engine)",
        group: "load",
        subject: "compile",
        baseline: "cache-read-only",
    },
];

/// Context rows: a label, a criterion group and benchmark; a median with no
/// baseline of its own.
const SINGLES: &[(&str, &str, &str)] = &[
    (
        "Home::manager(None) (active manager lookup, in every Home op)",
        "get-secret",
        "manager-lookup",
    ),
    (
        "cache read only (checksum + deserialize)",
        "load",
        "cache-read-only",
    ),
    (
        "Sandbox::new only (engine, linker, runtime)",
        "load",
        "sandbox-new-only",
    ),
];

fn summary(since: SystemTime, notes: &[String]) -> String {
    let dir = criterion_dir();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "flavorbox benchmark summary (medians; ratio = subject / baseline)\n"
    );
    let _ = writeln!(
        out,
        "{:<66} {:>12} {:>12} {:>9}",
        "comparison", "subject", "baseline", "ratio"
    );
    for pair in PAIRS {
        let subject = median_ns(&dir, pair.group, pair.subject, since);
        let baseline = median_ns(&dir, pair.group, pair.baseline, since);
        let (Some(subject), Some(baseline)) = (subject, baseline) else {
            continue;
        };
        let _ = writeln!(
            out,
            "{:<66} {:>12} {:>12} {:>8.1}x",
            pair.what,
            human(subject),
            human(baseline),
            subject / baseline,
        );
    }
    for (what, group, function) in SINGLES {
        let Some(ns) = median_ns(&dir, group, function, since) else {
            continue;
        };
        let _ = writeln!(out, "{:<66} {:>12}", what, human(ns));
    }
    for note in notes {
        let _ = writeln!(out, "\n{note}");
    }
    let path = dir.join("flavorbox-summary.txt");
    match std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, &out)) {
        Ok(()) => {
            let _ = writeln!(out, "(written to {})", path.display());
        }
        Err(err) => {
            let _ = writeln!(out, "(cannot write {}: {err})", path.display());
        }
    }
    out
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
    bench_masking(&mut c);
    bench_load(&mut c, &fx);
    c.final_summary();

    if benchmarking {
        println!("\n{}", summary(since, &notes));
    }
}
