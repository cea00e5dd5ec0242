//! Daily work: raw values and every output format round-tripping, `run`
//! passing secrets as environment (never argv), `resolve` rendering every
//! reference or nothing, and export and import (flavorbox's format and
//! ZenML's local secrets file), all or nothing.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use flavorbox_tests::{TestHome, guests};
use serde_json::Value;

use crate::write;

#[test]
fn get_prints_raw_values_and_every_format_round_trips() {
    let home = TestHome::new();
    home.register_secret(
        "db",
        &["username=admin", "password=pa ss'word", "cert=placeholder"],
    );
    // `-` drops one trailing newline; store one that keeps a newline.
    home.cli_with_stdin(
        &["secret", "update", "db", "cert=-"],
        Some(b"line1\nline2\n\n"),
    )
    .ok();
    let raw = home.cli(&["secret", "get", "db", "--key", "password"]);
    assert_eq!(raw.ok(), "pa ss'word\n");
    let exact = home.cli(&["secret", "get", "db", "--key", "cert", "--no-newline"]);
    assert_eq!(exact.ok(), "line1\nline2\n");
    let as_json = home.cli(&["secret", "get", "db", "--key", "cert", "--output", "json"]);
    assert_eq!(
        serde_json::from_str::<Value>(as_json.ok()).unwrap(),
        "line1\nline2\n"
    );
    home.cli(&["secret", "get", "db", "--key", "nope"])
        .fails(1, "secret `db` has no key `nope`");

    // Table output escapes the newline; JSON is exact.
    let table = home.cli(&["secret", "get", "db", "--reveal"]);
    assert!(
        table.ok().contains("cert      line1\\nline2\\n"),
        "{table:?}"
    );
    assert_eq!(table.stdout.lines().count(), 5, "{table:?}");
    let env = home.cli(&["secret", "get", "db", "--reveal", "--output", "env"]);
    assert!(env.ok().contains("PASSWORD='pa ss'\\''word'\n"), "{env:?}");
    let yaml = home.cli(&["secret", "get", "db", "--reveal", "--output", "yaml"]);
    assert!(yaml.ok().contains("username: admin"), "{yaml:?}");
    let masked = home.cli(&["secret", "get", "db", "--output", "yaml"]);
    assert!(!masked.ok().contains("admin"));

    // `get --output json` is what `--from-json` reads.
    let json = home.cli(&["secret", "get", "db", "--reveal", "--output", "json"]);
    let file = write(&home, "db.json", json.ok());
    home.register_secret("copy", &["--from-json", &file]);
    let (a, b) = (
        home.revealed("db", Some("default")),
        home.revealed("copy", Some("default")),
    );
    assert_eq!(a["values"], b["values"]);
    assert_eq!(b["schema"], "arbitrary");
    let masked_json = home.cli(&["secret", "get", "db", "--output", "json"]);
    let file = write(&home, "masked.json", masked_json.ok());
    home.cli(&["secret", "register", "x", "--from-json", &file])
        .fails(2, "holds masked values");
}

#[test]
fn run_passes_secrets_as_environment_and_the_exit_code_back() {
    let home = TestHome::new();
    home.register_secret("db", &["username=admin", "pass.word=s3cr3t-v4lue"]);
    home.cli(&["secrets-manager", "register", "other", "--flavor", "local"])
        .ok();
    home.register_secret("api", &["token=tok-123", "--manager", "other"]);
    let script = "printf '%s|%s|%s|%s\\n' \"$DB_USERNAME\" \"$DB_PASS_WORD\" \"$URL\" \"$TOKEN\"; \
                  tr '\\0' ' ' < /proc/$PPID/cmdline; echo; exit 42";
    let run = home.cli(&[
        "run",
        "--no-mask",
        "--secret",
        "db=DB_",
        "--env",
        "URL=postgres://{{db.username}}:{{db.pass.word}}@host",
        "--env",
        "TOKEN={{other/api.token}}",
        "--",
        "sh",
        "-c",
        script,
    ]);
    assert_eq!(run.code, 42, "{run:?}");
    let mut lines = run.stdout.lines();
    assert_eq!(
        lines.next().unwrap(),
        "admin|s3cr3t-v4lue|postgres://admin:s3cr3t-v4lue@host|tok-123"
    );
    let parent_cmdline = lines.next().unwrap();
    assert!(parent_cmdline.contains("flavorbox") && parent_cmdline.contains("run"));
    assert!(!parent_cmdline.contains("s3cr3t"), "{parent_cmdline}");
    assert!(!run.stderr.contains("s3cr3t"), "{run:?}");

    home.cli(&["run", "--secret", "ghost", "--", "true"]).fails(
        1,
        "secret `ghost` does not exist in secrets manager `default`",
    );
    home.cli(&["run", "--env", "X={{db.nokey}}", "--", "true"])
        .fails(1, "reference {{db.nokey}}: secret `db` has no key `nokey`");
    home.cli(&["run", "--secret", "db", "--secret", "db", "--", "true"])
        .fails(2, "would be set by both");
    home.cli(&["run", "--", "/no/such/program"])
        .fails(2, "cannot run `/no/such/program`");
}

#[test]
fn resolve_renders_every_reference_or_prints_nothing() {
    let home = TestHome::new();
    home.register_secret("db", &["username=admin", "password=hunter2-pw"]);
    home.cli(&["secrets-manager", "register", "b", "--flavor", "local"])
        .ok();
    home.register_secret("api", &["token=t0k", "--manager", "b"]);
    let template = write(
        &home,
        "app.conf",
        "user = {{db.username}}\npass = {{ db.password }}\ntoken = {{b/api.token}}\nplain { braces }\n",
    );
    let out = home.cli(&["resolve", &template]);
    assert_eq!(
        out.ok(),
        "user = admin\npass = hunter2-pw\ntoken = t0k\nplain { braces }\n"
    );
    let piped = home.cli_with_stdin(&["resolve", "-"], Some(b"{{db.username}}"));
    assert_eq!(piped.ok(), "admin");

    let bad = write(
        &home,
        "bad.conf",
        "user = {{db.username}}\nkey = {{db.nokey}}\n",
    );
    let run = home.cli(&["resolve", &bad]);
    run.fails(1, "{{db.nokey}}");
    assert!(run.stdout.is_empty(), "{run:?}");
    let ghost = home.cli(&["resolve", "-"]);
    assert!(ghost.stdout.is_empty());
    home.cli_with_stdin(&["resolve"], Some(b"a {{ghost.k}}"))
        .fails(1, "reference {{ghost.k}}: secret `ghost` does not exist");
    // With --strict, a `{{` that is not a reference is refused, naming it.
    home.cli_with_stdin(&["resolve", "--strict"], Some(b"x\n{{db.username"))
        .fails(2, "on line 2 is never closed");
    home.cli_with_stdin(&["resolve", "--strict"], Some(b"{{nokey}}"))
        .fails(2, "is not NAME.KEY");
}

#[test]
fn resolve_leaves_other_templating_alone_and_reaches_dotted_names() {
    let home = TestHome::new();
    home.register_secret("db", &["username=admin", "password=hunter2-pw"]);
    home.register_secret("db.prod", &["password=prod-pw"]);
    // A Helm values file, a Jinja line and a GitHub Actions step around
    // three references, one to a secret whose name holds a `.`.
    let template = "\
image: {{ .Values.image.repository }}:{{ .Chart.AppVersion }}
greeting: {{ user.name | title }}
run: echo ${{ github.sha }}
user: {{db.username}}
pass: {{ db.password }}
prod: {{\"db.prod\".password}}
literal: \\{{db.password}}
";
    let rendered = home.cli_with_stdin(&["resolve"], Some(template.as_bytes()));
    assert_eq!(
        rendered.ok(),
        "\
image: {{ .Values.image.repository }}:{{ .Chart.AppVersion }}
greeting: {{ user.name | title }}
run: echo ${{ github.sha }}
user: admin
pass: hunter2-pw
prod: prod-pw
literal: {{db.password}}
"
    );
    // Strict, the first `{{` that is not a reference is refused with its
    // line and how to write a literal one; nothing is printed.
    let strict = home.cli_with_stdin(&["resolve", "--strict"], Some(template.as_bytes()));
    let line = strict.fails(2, "(line 1; write `\\{{` for a literal `{{`)");
    assert!(line.contains("{{.Values.image.repository}}"), "{line}");
    assert!(strict.stdout.is_empty(), "{strict:?}");

    // The quoted name works on every path that takes a reference: `run
    // --env` and a manager's config.
    let run = home.cli(&[
        "run",
        "--no-mask",
        "--env",
        "P={{\"db.prod\".password}}",
        "--",
        "printenv",
        "P",
    ]);
    assert_eq!(run.ok(), "prod-pw\n");
    home.cli(&[
        "secrets-manager",
        "register",
        "prod",
        "--flavor",
        "aws",
        "--config",
        "region=us-east-1",
        "--config",
        "aws_access_key_id=AKIAEXAMPLE",
        "--config",
        "aws_secret_access_key={{\"db.prod\".password}}",
        "--config",
        "endpoint=http://127.0.0.1:9",
    ])
    .ok();
    let described = home.cli(&["secrets-manager", "describe", "prod"]);
    assert!(
        described.ok().contains("{{default/\"db.prod\".password}}"),
        "the reference is kept, pinned and quoted: {described:?}"
    );
}

#[test]
fn export_import_round_trips_all_or_nothing() {
    let home = TestHome::new();
    home.cli(&[
        "secret",
        "register",
        "db",
        "username=admin",
        "password=p\"w\n",
    ])
    .ok();
    home.register_secret(
        "aws_creds",
        &[
            "--schema",
            "aws",
            "aws_access_key_id=AKIA1",
            "aws_secret_access_key=s3cr3t",
        ],
    );
    home.cli(&["secret", "export"]).fails(2, "pass --reveal");
    let export = home.cli(&["secret", "export", "--reveal"]);
    let file = write(&home, "export.json", export.ok());

    home.cli(&["secrets-manager", "register", "b", "--flavor", "local"])
        .ok();
    let imported = home.cli(&["secret", "import", &file, "--manager", "b"]);
    assert!(
        imported
            .ok()
            .contains("imported 2 secrets into secrets manager `b`: aws_creds, db")
    );
    assert_eq!(
        home.revealed("db", Some("b"))["values"],
        home.revealed("db", Some("default"))["values"]
    );
    assert_eq!(home.revealed("aws_creds", Some("b"))["schema"], "aws");

    // Again: both exist now, so nothing is written.
    home.cli(&["secret", "import", &file, "--manager", "b"])
        .fails(
            1,
            "2 of the 2 secrets exist already in secrets manager `b`: `aws_creds`, `db`; \
             nothing was imported",
        );

    // One bad entry spoils the file: nothing imported.
    home.cli(&["secrets-manager", "register", "c", "--flavor", "local"])
        .ok();
    let mut doc: Value = serde_json::from_str(&export.stdout).unwrap();
    doc["secrets"][1]["values"]["zenml_schema_name"] = "x".into();
    let bad = write(&home, "bad.json", &doc.to_string());
    home.cli(&["secret", "import", &bad, "--manager", "c"])
        .fails(2, "key `zenml_schema_name` is reserved");
    let dup = write(
        &home,
        "dup.json",
        r#"{"flavorbox_export":1,"manager":"m","secrets":[
            {"name":"a","schema":"arbitrary","values":{"k":"1"}},
            {"name":"b","schema":"arbitrary","values":{"k":"1","k":"2"}}]}"#,
    );
    home.cli(&["secret", "import", &dup, "--manager", "c"])
        .fails(2, "key `k` is given more than once");
    assert!(home.secret_names(Some("c")).is_empty());

    // A register that fails midway (the flavor's storage quota) undoes what
    // the import had created.
    home.cli_register(guests::KV_JSON, "small", &["--storage-keys", "1"], false);
    let run = home.cli(&["secret", "import", &file, "--manager", "small"]);
    run.fails(
        1,
        "1 secret(s) this import had written were put back as they were",
    );
    assert!(home.secret_names(Some("small")).is_empty());
}

#[test]
fn a_zenml_local_secrets_file_imports() {
    // Written by ZenML's rules (LocalSecretsManager: yaml.dump of
    // {name: {key: base64(value), zenml_schema_name: TYPE}}).
    let home = TestHome::new();
    let b64 = |s: &str| BASE64.encode(s);
    let yaml = format!(
        "aws_creds:\n  aws_access_key_id: {}\n  aws_secret_access_key: {}\n  zenml_schema_name: aws\n\
         db:\n  password: {}\n  username: {}\n  zenml_schema_name: arbitrary\n",
        b64("AKIAIOSFODNN7EXAMPLE"),
        b64("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        b64("pä$$wörd\n"),
        b64("admin"),
    );
    let file = write(&home, "secrets.yaml", &yaml);
    let run = home.cli(&["import-zenml", &file]);
    assert!(run.ok().contains("imported 2 secrets"), "{run:?}");
    let aws = home.revealed("aws_creds", Some("default"));
    assert_eq!(aws["schema"], "aws");
    assert_eq!(
        aws["values"]["aws_secret_access_key"],
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    );
    assert_eq!(
        home.revealed("db", Some("default"))["values"]["password"],
        "pä$$wörd\n"
    );

    let empty = write(&home, "empty.yaml", "");
    assert!(
        home.cli(&["import-zenml", &empty])
            .ok()
            .contains("imported 0 secrets")
    );
    home.cli(&["secrets-manager", "register", "fresh", "--flavor", "local"])
        .ok();
    for (text, needle) in [
        (
            "db:\n  password: '%%%'\n  zenml_schema_name: arbitrary\n",
            "not base64",
        ),
        ("db:\n  password: aGk=\n", "no `zenml_schema_name`"),
        (
            "db:\n  p: aGk=\n  zenml_schema_name: nope\n",
            "unknown schema `nope`",
        ),
        ("[1, 2]\n", "not a mapping of secrets"),
        (
            "ok:\n  p: aGk=\n  zenml_schema_name: arbitrary\nbad:\n  p: ''\n  zenml_schema_name: arbitrary\n",
            "empty value",
        ),
    ] {
        let file = write(&home, "bad.yaml", text);
        home.cli(&["import-zenml", &file, "--manager", "fresh"])
            .fails(2, needle);
    }
    // Files made to cost more than their size: one anchor replayed by
    // aliases (67 KB here, 2.6 GB if every alias were held), and nesting.
    let value = b64(&"v".repeat(40 << 10));
    let bomb = format!(
        "s0: &b\n  k: {value}\n  zenml_schema_name: arbitrary\n{}",
        (1..1_500)
            .map(|i| format!("s{i}: *b\n"))
            .collect::<String>()
    );
    assert!(bomb.len() < 80_000);
    for (text, needle) in [
        (bomb, "aliases replay more than 16777216 bytes"),
        // Refused at the depth ZenML's shape has, or by the YAML reader's
        // own nesting bound, whichever comes first.
        ("[".repeat(100_000), "YAML"),
        (format!("db:\n  k: {}", "{a: ".repeat(100_000)), "YAML"),
    ] {
        let file = write(&home, "bomb.yaml", &text);
        home.cli(&["import-zenml", &file, "--manager", "fresh"])
            .fails(2, needle);
    }
    let nested = write(&home, "nested.json", &"[".repeat(100_000));
    home.cli(&["secret", "import", &nested, "--manager", "fresh"])
        .fails(2, "recursion limit");
    assert!(home.secret_names(Some("fresh")).is_empty());
}
