//! `run` and `secret get --output env` against a secret's writer who wants
//! the operator's process: a key for every family of variables that changes
//! how programs load or start is refused by `run` (one line naming the key
//! and the family, nothing started: a marker file the command would write
//! stays absent, and so does the one injected code would write) and left
//! out with a warning by `--output env`; the operator may still name such a
//! variable with `--env`; a key never replaces an inherited variable unless
//! `--replace` names it; flavorbox's own `FLAVORBOX_*` variables never
//! reach the command (`--clean-env` and `--pass` too); signals sent to
//! `run` reach the command, its status comes back, and the command dies
//! with a killed flavorbox.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use flavorbox_tests::{CliHome, Run, cli_command};

/// Writes an executable script.
fn executable(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A home with an executable `evil.sh` that writes `injected` when run.
struct Setup {
    home: CliHome,
}

impl Setup {
    fn new() -> Setup {
        let home = CliHome::new();
        let injected = home.path().join("injected");
        executable(
            &home.path().join("evil.sh"),
            &format!("#!/bin/sh\ntouch '{}'\n", injected.display()),
        );
        Setup { home }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.home.path().join(name)
    }

    fn path(&self, name: &str) -> String {
        self.file(name).to_str().unwrap().to_string()
    }

    /// A command that only writes `started`.
    fn started_script(&self) -> String {
        format!("touch '{}'", self.path("started"))
    }

    /// Registers a secret holding `key` (and an ordinary `token`), then
    /// checks that `run` refuses it naming the key and `family`, starting
    /// nothing, and that `--output env` leaves the key out with a warning.
    #[track_caller]
    fn refused(&self, key: &str, value: &str, family: &str) {
        let secret = format!("s-{}", key.replace('_', "-"));
        let pair = format!("{key}={value}");
        self.home
            .register_secret(&secret, &[pair.as_str(), "token=ordinary-token"]);
        let script = self.started_script();
        let run = self
            .home
            .cli(&["run", "--secret", &secret, "--", "bash", "-c", &script]);
        let line = run.fails(1, &format!("secret `{secret}` key `{key}` would set"));
        assert!(line.contains(&format!("a {family} variable")), "{line}");
        assert!(line.contains("nothing was started"), "{line}");
        assert!(
            line.contains(&format!("='{{{{{secret}.{key}}}}}'")),
            "{line}"
        );
        assert!(!line.contains(value), "the value is never shown: {line}");
        assert!(!self.file("started").exists(), "{key}: the command ran");
        assert!(!self.file("injected").exists(), "{key}: injected code ran");

        let get = self
            .home
            .cli(&["secret", "get", &secret, "--reveal", "--output", "env"]);
        assert_eq!(get.ok(), "TOKEN='ordinary-token'\n", "{key}: {get:?}");
        let warnings: Vec<&str> = get.stderr.lines().collect();
        assert_eq!(warnings.len(), 1, "{get:?}");
        assert!(
            warnings[0].starts_with("flavorbox: warning: ")
                && warnings[0].contains(&format!("key `{key}`"))
                && warnings[0].contains(&format!("a {family} variable"))
                && warnings[0].ends_with("left out"),
            "{get:?}"
        );
    }
}

#[test]
fn dynamic_loader_keys_are_refused() {
    let setup = Setup::new();
    let library = setup.path("evil.so");
    for key in [
        "ld_preload",
        "ld_library_path",
        "ld_audit",
        "dyld_insert_libraries",
        "glibc_tunables",
    ] {
        setup.refused(key, &library, "dynamic loader");
    }
}

#[test]
fn shell_start_up_keys_are_refused() {
    let setup = Setup::new();
    let evil = setup.path("evil.sh");
    let run_evil = format!("$({evil})");
    for (key, value) in [
        ("bash_env", evil.as_str()),
        ("env", evil.as_str()),
        ("ps4", run_evil.as_str()),
        ("prompt_command", evil.as_str()),
        ("shellopts", "xtrace"),
        ("ifs", "/"),
        ("cdpath", "/tmp"),
    ] {
        setup.refused(key, value, "shell start-up");
    }
}

#[test]
fn search_path_keys_are_refused() {
    let setup = Setup::new();
    let dir = setup.path("");
    for key in [
        "path",
        "pythonpath",
        "node_path",
        "perl5lib",
        "rubylib",
        "classpath",
        "gconv_path",
        "git_exec_path",
    ] {
        setup.refused(key, &dir, "search path");
    }
}

#[test]
fn interpreter_start_up_keys_are_refused() {
    let setup = Setup::new();
    let evil = setup.path("evil.sh");
    for (key, value) in [
        ("pythonstartup", evil.as_str()),
        ("pythonhome", evil.as_str()),
        ("node_options", "--require /tmp/evil.js"),
        ("perl5opt", "-Mevil"),
        ("rubyopt", "-revil"),
        ("java_tool_options", "-javaagent:/tmp/evil.jar"),
        ("_java_options", "-javaagent:/tmp/evil.jar"),
    ] {
        setup.refused(key, value, "interpreter start-up");
    }
}

#[test]
fn command_hook_keys_are_refused() {
    let setup = Setup::new();
    let evil = setup.path("evil.sh");
    for key in [
        "git_ssh_command",
        "git_askpass",
        "editor",
        "visual",
        "pager",
        "lessopen",
        "ssh_askpass",
    ] {
        setup.refused(key, &evil, "command hook");
    }
}

#[test]
fn configuration_location_keys_are_refused() {
    let setup = Setup::new();
    let dir = setup.path("");
    for key in [
        "home",
        "xdg_config_home",
        "tmpdir",
        "shell",
        "openssl_conf",
        "kubeconfig",
    ] {
        setup.refused(key, &dir, "configuration location");
    }
}

#[test]
fn locale_keys_are_refused() {
    let setup = Setup::new();
    let dir = setup.path("");
    for key in ["lang", "lc_all", "language", "tz"] {
        setup.refused(key, &dir, "locale");
    }
}

#[test]
fn network_trust_keys_are_refused() {
    let setup = Setup::new();
    for (key, value) in [
        ("https_proxy", "http://attacker.invalid:3128"),
        ("all_proxy", "socks5://attacker.invalid"),
        ("ssl_cert_file", "/tmp/attacker-ca.pem"),
        ("sslkeylogfile", "/tmp/keys.log"),
    ] {
        setup.refused(key, value, "network trust");
    }
}

#[test]
fn flavorbox_configuration_keys_are_refused() {
    let setup = Setup::new();
    let dir = setup.path("");
    for key in ["flavorbox_home", "flavorbox_token"] {
        setup.refused(key, &dir, "flavorbox configuration");
    }
}

/// The operator may name any variable with `--env`: a secret's `path` as
/// PATH works when asked for, and the command itself is still found in
/// flavorbox's own PATH.
#[test]
fn the_operator_may_name_such_a_variable_with_env() {
    let setup = Setup::new();
    let tools = setup.file("tools");
    std::fs::create_dir(&tools).unwrap();
    executable(
        &tools.join("hello-tool"),
        "#!/bin/sh\necho hello from the tool\n",
    );
    let pair = format!("path={}", tools.display());
    setup.home.register_secret("tools", &[pair.as_str()]);

    let run = setup.home.cli(&[
        "run",
        "--no-mask",
        "--env",
        "PATH={{tools.path}}:/usr/bin:/bin",
        "--",
        "bash",
        "-c",
        "hello-tool; echo \"$PATH\"",
    ]);
    assert_eq!(
        run.ok(),
        format!("hello from the tool\n{}:/usr/bin:/bin\n", tools.display())
    );
    // Named with --env, the loader's variables too.
    let run = setup.home.cli(&[
        "run",
        "--no-mask",
        "--env",
        "BASH_ENV={{tools.path}}/none",
        "--",
        "bash",
        "-c",
        "echo \"$BASH_ENV\"",
    ]);
    assert_eq!(run.ok(), format!("{}/none\n", tools.display()));
}

/// A key never replaces what the command inherits unless `--replace`
/// names it; `--clean-env` inherits nothing to replace.
#[test]
fn a_key_replaces_an_inherited_variable_only_when_named() {
    let setup = Setup::new();
    setup
        .home
        .register_secret("app", &["app_token=from-the-secret"]);
    let script = format!("{}; echo \"$APP_TOKEN\"", setup.started_script());
    let args = |extra: &[&'static str]| {
        let mut args = vec!["run", "--no-mask", "--secret", "app"];
        args.extend_from_slice(extra);
        args.extend(["--", "bash", "-c", script.as_str()]);
        args.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let cli = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        setup.home.cli_env(&args, &[("APP_TOKEN", "inherited")])
    };
    cli(args(&[])).fails(
        1,
        "secret `app` key `app_token` would replace APP_TOKEN, which the command inherits",
    );
    assert!(!setup.file("started").exists());
    assert_eq!(
        cli(args(&["--replace", "APP_TOKEN"])).ok(),
        "from-the-secret\n"
    );
    assert_eq!(cli(args(&["--clean-env"])).ok(), "from-the-secret\n");
    cli(args(&["--replace", "APP_TOKEN", "--replace", "OTHER"]))
        .fails(2, "--replace OTHER: no --secret key replaces");
    // --replace never opens a refused family.
    setup.home.register_secret("p", &["path=/tmp"]);
    setup
        .home
        .cli_env(
            &["run", "--secret", "p", "--replace", "PATH", "--", "true"],
            &[],
        )
        .fails(1, "a search path variable");
}

/// The variables flavorbox reads, set around `run` as an operator would.
fn flavorbox_settings(setup: &Setup) -> Vec<(&'static str, String)> {
    let key = std::fs::read_to_string(setup.file("master.key")).unwrap();
    vec![
        ("FLAVORBOX_MASTER_KEY", key.trim().to_string()),
        ("FLAVORBOX_TOKEN", "fbx-token-must-not-leak".to_string()),
        ("FLAVORBOX_HOME", setup.path("")),
        ("FLAVORBOX_SERVER_CA", setup.path("ca.pem")),
        ("FLAVORBOX_LOG", "off".to_string()),
        ("FLAVORBOX_FUTURE_SETTING", "x".to_string()),
        ("KEEP_ME", "kept".to_string()),
    ]
}

fn with_settings(setup: &Setup, args: &[&str]) -> Run {
    let settings = flavorbox_settings(setup);
    let env: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    setup.home.cli_env(args, &env)
}

#[test]
fn the_command_never_receives_flavorbox_credentials() {
    let setup = Setup::new();
    setup.home.register_secret("db", &["password=db-pw"]);
    let run = with_settings(&setup, &["run", "--no-mask", "--secret", "db", "--", "env"]);
    let env = run.ok();
    assert!(env.lines().any(|l| l == "PASSWORD=db-pw"), "{env}");
    assert!(env.lines().any(|l| l == "KEEP_ME=kept"), "{env}");
    assert!(env.lines().any(|l| l.starts_with("PATH=")), "{env}");
    assert!(!env.contains("FLAVORBOX_"), "{env}");
    assert!(!env.contains("fbx-token-must-not-leak"), "{env}");
}

#[test]
fn clean_env_gives_only_what_was_asked() {
    let setup = Setup::new();
    setup.home.register_secret("db", &["password=db-pw"]);
    let run = with_settings(
        &setup,
        &[
            "run",
            "--no-mask",
            "--clean-env",
            "--pass",
            "KEEP_ME",
            "--pass",
            "NOT_SET_ANYWHERE",
            "--secret",
            "db",
            "--env",
            "URL=db://{{db.password}}",
            "--",
            "env",
        ],
    );
    let mut lines: Vec<&str> = run.ok().lines().collect();
    lines.sort();
    assert_eq!(lines, ["KEEP_ME=kept", "PASSWORD=db-pw", "URL=db://db-pw"]);

    with_settings(
        &setup,
        &[
            "run",
            "--clean-env",
            "--pass",
            "FLAVORBOX_TOKEN",
            "--",
            "env",
        ],
    )
    .fails(
        1,
        "--pass FLAVORBOX_TOKEN: the command never receives flavorbox's own",
    );
    setup
        .home
        .cli(&["run", "--pass", "KEEP_ME", "--", "true"])
        .fails(2, "--clean-env");
}

/// Waits until `path` exists (at most 20 s).
#[track_caller]
fn wait_for(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for `child` (at most 20 s).
fn exit_of(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("flavorbox run did not end");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn spawn_run(setup: &Setup, script: &str) -> Child {
    let mut cmd = cli_command(Some(setup.home.path()));
    cmd.args(["run", "--", "bash", "-c", script])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd.spawn().unwrap()
}

fn signal(child: &Child, signal: i32) {
    // SAFETY: kill only sends a signal, to a child this test started.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, signal) }, 0);
}

#[test]
fn signals_reach_the_command_and_its_status_comes_back() {
    let setup = Setup::new();
    let script = format!(
        "trap 'touch {usr1}' USR1; trap 'touch {term}; exit 143' TERM; touch {ready}; \
         while :; do sleep 0.05; done",
        usr1 = setup.path("got-usr1"),
        term = setup.path("got-term"),
        ready = setup.path("ready"),
    );
    let mut run = spawn_run(&setup, &script);
    wait_for(&setup.file("ready"));
    signal(&run, libc::SIGUSR1);
    wait_for(&setup.file("got-usr1"));
    signal(&run, libc::SIGTERM);
    // flavorbox itself exits, with the command's code; it is not killed.
    assert_eq!(exit_of(&mut run).code(), Some(143));
    assert!(setup.file("got-term").exists());

    // Ended by the forwarded signal itself: 128 + SIGINT.
    let script = format!("touch {}; exec sleep 30", setup.path("ready-2"));
    let mut run = spawn_run(&setup, &script);
    wait_for(&setup.file("ready-2"));
    signal(&run, libc::SIGINT);
    assert_eq!(exit_of(&mut run).code(), Some(128 + libc::SIGINT));
}

/// Whether process `pid` is gone (or a zombie nobody reaped yet).
fn gone(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // The state follows the command name, which is in parentheses.
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .unwrap()
            .trim_start()
            .starts_with('Z'),
    }
}

#[test]
fn the_command_dies_with_a_killed_flavorbox() {
    let setup = Setup::new();
    let pid_file = setup.file("pid");
    let script = format!(
        "echo $$ > {pid}.tmp && mv {pid}.tmp {pid}; exec sleep 60",
        pid = pid_file.display()
    );
    let mut run = spawn_run(&setup, &script);
    wait_for(&pid_file);
    let pid = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .to_string();
    assert!(!gone(&pid), "the command is running");
    signal(&run, libc::SIGKILL);
    assert_eq!(exit_of(&mut run).signal(), Some(libc::SIGKILL));
    let deadline = Instant::now() + Duration::from_secs(20);
    while !gone(&pid) {
        assert!(
            Instant::now() < deadline,
            "the command {pid} outlived flavorbox"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn what_the_command_prints_is_masked_unless_no_mask() {
    let setup = Setup::new();
    setup
        .home
        .register_secret("db", &["password=db-pw-0451", "username=deployer"]);
    let script = "echo \"pw=$PASSWORD user=$USERNAME\"; echo \"err $PASSWORD\" >&2; \
                  printf 'no break %s' \"$PASSWORD\"; exit 7";
    let run = setup
        .home
        .cli(&["run", "--secret", "db", "--", "sh", "-c", script]);
    assert_eq!(run.code, 7, "the command's exit code: {run:?}");
    assert_eq!(run.stdout, "pw=*** user=***\nno break ***");
    assert_eq!(run.stderr, "err ***\n");

    // A value inside a --env template is masked too.
    let run = setup.home.cli(&[
        "run",
        "--env",
        "DSN=postgres://app:{{db.password}}@db",
        "--",
        "sh",
        "-c",
        "echo $DSN",
    ]);
    assert_eq!(run.ok(), "postgres://app:***@db\n");

    let run = setup.home.cli(&[
        "run",
        "--no-mask",
        "--secret",
        "db",
        "--",
        "sh",
        "-c",
        script,
    ]);
    assert_eq!(run.code, 7, "{run:?}");
    assert_eq!(
        run.stdout,
        "pw=db-pw-0451 user=deployer\nno break db-pw-0451"
    );
}

#[test]
fn masking_holds_one_bounded_line_and_never_outwaits_the_command() {
    let setup = Setup::new();
    setup.home.register_secret("db", &["password=db-pw-0451"]);
    // A 2 MiB line (past the 1 MiB bound) is shown as `***`; the lines
    // around it pass.
    let script = "echo first; head -c 2097152 /dev/zero | tr '\\0' a; echo; echo last";
    let run = setup
        .home
        .cli(&["run", "--secret", "db", "--", "sh", "-c", script]);
    assert_eq!(run.ok(), "first\n***\nlast\n");

    // A process the command leaves running holds its stdout: flavorbox
    // returns once the command exits (and a short drain), not with it.
    let run = setup.home.cli(&[
        "run",
        "--secret",
        "db",
        "--",
        "sh",
        "-c",
        "sleep 60 & echo started",
    ]);
    assert_eq!(run.ok(), "started\n");
    assert!(
        run.elapsed < Duration::from_secs(30),
        "flavorbox waited for the left-over process: {run:?}"
    );
}
