//! What the sandbox costs: each flavorbox path is measured next to a native
//! baseline that does the same work without wasm, in the same run, and the
//! ratio between the two medians is what to watch (wall-clock numbers depend
//! on the machine and on whatever else it is doing).
//!
//! | group | flavorbox | native baseline |
//! |---|---|---|
//! | `get-secret` | `Home::get_secret` on `local` (2-key secret) | the same encoded secret in a `HashMap`, decoded with serde_json + base64 |
//! | `register-delete` | `Home::register_secret` + `Home::delete_secret` | the same two write transactions on a rusqlite table (WAL, `synchronous = FULL`) |
//! | `raw-call` | `Sandbox::call(Request::Info)`, no storage | the same `info()` answer built and checked natively |
//! | `load` | `Sandbox::new` + `load` from a warm compile cache | `Sandbox::new(None)` + `load` (compiles) |
//!
//! Extra rows break a flavorbox path down (e.g. a sandbox call without the
//! `Home` plumbing around it). A summary table of medians and ratios is
//! printed at the end and written to `<target>/criterion/flavorbox-summary.txt`.
//!
//! Run: `cargo bench -p flavorbox --bench calls` (a filter after `--` runs a
//! subset; the summary then only lists the pairs that ran).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use criterion::{BatchSize, Criterion};
use flavorbox::bindings::FlavorInfo;
use flavorbox::contract::{Request, Response};
use flavorbox::flavors::{FlavorDescription, LOCAL_DIGEST, LOCAL_WASM, local_policy};
use flavorbox::sandbox::cache::CompileCache;
use flavorbox::sandbox::{CallSetup, LoadedFlavor, Policy, Sandbox};
use flavorbox::store::{NamespaceTxn, TxnMode};
use flavorbox::{Home, Secret};
use rusqlite::{Connection, OptionalExtension, params};

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

/// The `info()` answer of the `local` flavor, built natively and checked as
/// the host checks a flavor's answer.
fn native_info() -> FlavorDescription {
    let info = FlavorInfo {
        name: "local".to_string(),
        version: "0.1.0".to_string(),
        description: "Secrets in the embedded store of this flavorbox home, \
                      as ZenML LocalSecretsManager YAML with base64 values."
            .to_string(),
        config: Vec::new(),
        capabilities: vec!["storage".to_string()],
    };
    FlavorDescription::from_wit(info).expect("a valid description")
}

// ----- fixtures -----------------------------------------------------------------------

struct Fixture {
    dir: tempfile::TempDir,
    home: Home,
    /// The home's sandbox and its `local` flavor, for calls without `Home`.
    sandbox: Arc<Sandbox>,
    local: Arc<LoadedFlavor>,
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
        let home = Home::open(&dir.path().join("home")).expect("open home");
        let secret = two_key_secret(GET_NAME);
        home.register_secret(None, secret.clone())
            .expect("register the benchmark secret");
        assert_eq!(home.get_secret(None, GET_NAME).expect("read back"), secret);
        let sandbox = home.sandbox().expect("sandbox").clone();
        let local = sandbox.load(LOCAL_DIGEST, LOCAL_WASM).expect("load local");
        let manager_id = home.manager(None).expect("active manager").id;

        let cache_dir = dir.path().join("cache");
        Sandbox::new(Some(cache_dir.clone()))
            .expect("sandbox")
            .load(LOCAL_DIGEST, LOCAL_WASM)
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
            sandbox,
            local,
            manager_id,
            cache_dir,
        }
    }

    fn storage(&self, mode: TxnMode) -> Option<Box<dyn NamespaceTxn>> {
        Some(Box::new(
            self.home
                .store()
                .namespace(self.manager_id, mode)
                .expect("namespace"),
        ))
    }

    /// One call of the `local` flavor with its storage, without `Home`.
    fn call(&self, policy: &Policy, request: &Request) -> Response {
        let setup = CallSetup {
            policy,
            storage: self.storage(request.txn_mode()),
            config: BTreeMap::new(),
        };
        self.sandbox
            .call(&self.local, setup, request)
            .result
            .expect("call succeeds")
    }
}

// ----- benchmarks ---------------------------------------------------------------------

fn bench_get_secret(c: &mut Criterion, fx: &Fixture) {
    let mut group = c.benchmark_group("get-secret");
    group.bench_function("flavorbox-home", |b| {
        b.iter(|| fx.home.get_secret(None, black_box(GET_NAME)).expect("get"))
    });

    let secret = two_key_secret(GET_NAME);
    let mut map = HashMap::new();
    map.insert(format!("{PREFIX}{GET_NAME}"), native_encode(&secret));
    assert_eq!(native_get(&map, GET_NAME), secret);
    group.bench_function("native-hashmap-json", |b| {
        b.iter(|| native_get(black_box(&map), black_box(GET_NAME)))
    });

    // Breakdown: the same get as one sandbox call, without `Home::bind`
    // (manager lookup, the `local` flavor's description).
    let policy = local_policy();
    let request = Request::Get(GET_NAME.to_string());
    group.bench_function("flavorbox-sandbox-call", |b| {
        b.iter(|| fx.call(&policy, black_box(&request)))
    });
    // Breakdown: the manager lookup every `Home` operation starts with.
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
    group.bench_function("flavorbox-home", |b| {
        b.iter(|| {
            fx.home
                .register_secret(None, black_box(secret.clone()))
                .expect("register");
            fx.home.delete_secret(None, RW_NAME).expect("delete");
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

    // Breakdown: the two calls straight into the sandbox, without `Home`.
    let policy = local_policy();
    let register = Request::Register(secret.clone());
    let delete = Request::Delete(RW_NAME.to_string());
    group.bench_function("flavorbox-sandbox-call", |b| {
        b.iter(|| {
            fx.call(&policy, &register);
            fx.call(&policy, &delete);
        })
    });
    group.finish();
}

fn bench_raw_call(c: &mut Criterion, fx: &Fixture) {
    let mut group = c.benchmark_group("raw-call");
    let policy = Policy::default();
    group.bench_function("flavorbox-info", |b| {
        b.iter(|| {
            let setup = CallSetup {
                policy: &policy,
                storage: None,
                config: BTreeMap::new(),
            };
            fx.sandbox
                .call(&fx.local, setup, black_box(&Request::Info))
                .result
                .expect("info")
        })
    });
    group.bench_function("native-info", |b| b.iter(native_info));
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
                let sandbox = Sandbox::new(Some(fx.cache_dir.clone())).expect("sandbox");
                sandbox.load(LOCAL_DIGEST, LOCAL_WASM).expect("load");
                sandbox
            },
            BatchSize::PerIteration,
        )
    });

    // Breakdowns on an existing engine: reading the cache (checksum +
    // deserialize) and a bare `Sandbox::new` (engine, linker, runtime).
    let engine = fx.sandbox.engine();
    group.bench_function("cache-read-only", |b| {
        let cache = CompileCache::new(engine, Some(fx.cache_dir.clone()));
        b.iter(|| cache.load(engine, LOCAL_DIGEST, LOCAL_WASM).expect("load"))
    });
    group.bench_function("sandbox-new-only", |b| {
        b.iter_batched(
            || (),
            |()| Sandbox::new(None).expect("sandbox"),
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
                let sandbox = Sandbox::new(None).expect("sandbox");
                sandbox.load(LOCAL_DIGEST, LOCAL_WASM).expect("compile");
                sandbox
            },
            BatchSize::PerIteration,
        )
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
    /// The prototype's figure for the subject (SPEC §6), if any.
    spec: Option<(&'static str, f64)>,
}

const PAIRS: &[Pair] = &[
    Pair {
        what: "get-secret (Home, local, 2 keys) vs HashMap+serde_json+base64",
        group: "get-secret",
        subject: "flavorbox-home",
        baseline: "native-hashmap-json",
        spec: None,
    },
    Pair {
        what: "  breakdown: one sandbox get call (no Home::bind) vs native",
        group: "get-secret",
        subject: "flavorbox-sandbox-call",
        baseline: "native-hashmap-json",
        spec: None,
    },
    Pair {
        what: "register+delete (Home) vs rusqlite (WAL, sync=FULL)",
        group: "register-delete",
        subject: "flavorbox-home",
        baseline: "native-rusqlite",
        spec: None,
    },
    Pair {
        what: "  breakdown: two sandbox calls (no Home::bind) vs rusqlite",
        group: "register-delete",
        subject: "flavorbox-sandbox-call",
        baseline: "native-rusqlite",
        spec: None,
    },
    Pair {
        what: "raw sandbox call (info, no storage) vs native info()",
        group: "raw-call",
        subject: "flavorbox-info",
        baseline: "native-info",
        spec: Some(("61 µs", 61e3)),
    },
    Pair {
        what: "cold start (new + compile) vs warm (new + cache)",
        group: "load",
        subject: "compile",
        baseline: "warm-cache",
        spec: Some(("0.33 s", 0.33e9)),
    },
    Pair {
        what: "  breakdown: compile vs cache read only (same engine)",
        group: "load",
        subject: "compile",
        baseline: "cache-read-only",
        spec: None,
    },
];

/// A SPEC §6 prototype figure: how it reads, and nanoseconds.
type SpecFigure = (&'static str, f64);

/// Context rows: a label, a criterion group and benchmark, and a SPEC figure;
/// a median with no baseline of its own.
const SINGLES: &[(&str, &str, &str, Option<SpecFigure>)] = &[
    (
        "Home::manager(None) (active manager lookup, in every Home op)",
        "get-secret",
        "manager-lookup",
        None,
    ),
    (
        "cache read only (checksum + deserialize)",
        "load",
        "cache-read-only",
        Some(("0.2 ms", 0.2e6)),
    ),
    (
        "Sandbox::new only (engine, linker, runtime)",
        "load",
        "sandbox-new-only",
        None,
    ),
];

fn summary(since: SystemTime) -> String {
    let dir = criterion_dir();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "flavorbox benchmark summary (medians; ratio = subject / baseline)\n"
    );
    let _ = writeln!(
        out,
        "{:<66} {:>12} {:>12} {:>9}  SPEC §6",
        "comparison", "subject", "baseline", "ratio"
    );
    for pair in PAIRS {
        let subject = median_ns(&dir, pair.group, pair.subject, since);
        let baseline = median_ns(&dir, pair.group, pair.baseline, since);
        let (Some(subject), Some(baseline)) = (subject, baseline) else {
            continue;
        };
        let spec = pair
            .spec
            .map(|(text, ns)| format!("{text} (x{:.2})", subject / ns))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<66} {:>12} {:>12} {:>8.1}x  {}",
            pair.what,
            human(subject),
            human(baseline),
            subject / baseline,
            spec
        );
    }
    for (what, group, function, spec) in SINGLES {
        let Some(ns) = median_ns(&dir, group, function, since) else {
            continue;
        };
        let spec = spec
            .map(|(text, spec_ns)| format!("{text} (x{:.2})", ns / spec_ns))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<66} {:>12} {:>12} {:>9}  {}",
            what,
            human(ns),
            "",
            "",
            spec
        );
    }
    let _ = writeln!(
        out,
        "\nSPEC §6 column: the prototype's figure for the subject, and subject / that figure."
    );
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
    bench_get_secret(&mut c, &fx);
    bench_register_delete(&mut c, &fx);
    bench_raw_call(&mut c, &fx);
    bench_load(&mut c, &fx);
    c.final_summary();

    if benchmarking {
        println!("\n{}", summary(since));
    }
}
