//! One set of input rules on every path: one table of bad inputs, each fed
//! to the CLI (`secret register`/`update` with `KEY=VALUE` arguments, and
//! with the very JSON body the API gets, through `--from-json -`) and to
//! the API (`POST`/`PATCH`), on one store. Every path must refuse it with
//! the same kind of error (CLI exit 2 ↔ HTTP 400, exit 1 ↔ 404/409), the
//! arguments and the API with the same words, and nothing may be stored.

use flavorbox::ErrorKind;
use flavorbox_tests::serve_node::call_port;
use serde_json::{Value, json};

use crate::{cli_fed, cli_on, start, token};

/// What a case asks for.
#[derive(Clone, Copy, Debug)]
enum Op {
    /// `secret register NAME` / `POST .../secrets`
    Register,
    /// `secret update NAME` / `PATCH .../secrets/NAME`
    Update,
}

/// One bad input: the operation, the secret's name, the schema asked for,
/// the pairs in the order given (a key may repeat) and the error it gets.
struct Case {
    what: &'static str,
    op: Op,
    name: String,
    schema: Option<&'static str>,
    pairs: Vec<(String, String)>,
    kind: ErrorKind,
}

fn case(
    what: &'static str,
    op: Op,
    name: &str,
    schema: Option<&'static str>,
    pairs: &[(&str, &str)],
    kind: ErrorKind,
) -> Case {
    let pairs = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Case {
        what,
        op,
        name: name.to_string(),
        schema,
        pairs,
        kind,
    }
}

/// The table. The secret `seed` exists (`k=v`, schema arbitrary).
fn bad_inputs() -> Vec<Case> {
    use ErrorKind::{AlreadyExists, Invalid, NotFound};
    use Op::{Register, Update};
    let long = "n".repeat(129);
    let big = "x".repeat(64 * 1024 + 1);
    let many: Vec<(String, String)> = (0..1025).map(|i| (format!("k{i}"), "v".into())).collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let aws_key = ("aws_access_key_id", "AKIA-EXAMPLE");
    let aws_secret = ("aws_secret_access_key", "aws-secret");
    vec![
        case(
            "an empty value",
            Register,
            "fresh",
            None,
            &[("k", "")],
            Invalid,
        ),
        case(
            "a key given twice",
            Register,
            "fresh",
            None,
            &[("k", "a"), ("k", "b")],
            Invalid,
        ),
        case(
            "the reserved key",
            Register,
            "fresh",
            None,
            &[("zenml_schema_name", "x")],
            Invalid,
        ),
        case(
            "a key with a space",
            Register,
            "fresh",
            None,
            &[("bad key", "v")],
            Invalid,
        ),
        case(
            "a key of 129 characters",
            Register,
            "fresh",
            None,
            &[(&long, "v")],
            Invalid,
        ),
        case(
            "a name with a space",
            Register,
            "bad name",
            None,
            &[("k", "v")],
            Invalid,
        ),
        case(
            "a name starting with a dot",
            Register,
            ".hidden",
            None,
            &[("k", "v")],
            Invalid,
        ),
        case(
            "a name of 129 characters",
            Register,
            &long,
            None,
            &[("k", "v")],
            Invalid,
        ),
        case(
            "values past 64 KiB",
            Register,
            "fresh",
            None,
            &[("k", &big)],
            Invalid,
        ),
        case("1,025 keys", Register, "fresh", None, &many, Invalid),
        case("no values", Register, "fresh", None, &[], Invalid),
        case(
            "an unknown schema",
            Register,
            "fresh",
            Some("nope"),
            &[("k", "v")],
            Invalid,
        ),
        case(
            "a required key missing",
            Register,
            "fresh",
            Some("aws"),
            &[aws_key],
            Invalid,
        ),
        case(
            "a key the schema does not allow",
            Register,
            "fresh",
            Some("aws"),
            &[aws_key, aws_secret, ("other", "x")],
            Invalid,
        ),
        case(
            "a name taken",
            Register,
            "seed",
            None,
            &[("k", "v2")],
            AlreadyExists,
        ),
        case(
            "an empty value",
            Update,
            "seed",
            None,
            &[("k", "")],
            Invalid,
        ),
        case(
            "a key given twice",
            Update,
            "seed",
            None,
            &[("k", "a"), ("k", "b")],
            Invalid,
        ),
        case(
            "the reserved key",
            Update,
            "seed",
            None,
            &[("zenml_schema_name", "x")],
            Invalid,
        ),
        case(
            "a key with a space",
            Update,
            "seed",
            None,
            &[("bad key", "v")],
            Invalid,
        ),
        case("nothing to update", Update, "seed", None, &[], Invalid),
        case(
            "values past 64 KiB",
            Update,
            "seed",
            None,
            &[("k2", &big)],
            Invalid,
        ),
        case(
            "an unknown schema",
            Update,
            "seed",
            Some("nope"),
            &[("k", "v2")],
            Invalid,
        ),
        case(
            "a schema the secret breaks",
            Update,
            "seed",
            Some("aws"),
            &[],
            Invalid,
        ),
        case(
            "a missing secret",
            Update,
            "missing",
            None,
            &[("k", "v")],
            NotFound,
        ),
    ]
}

/// The CLI's exit code, the API's status and how the CLI's message starts,
/// for each kind the table uses.
fn mapping(kind: ErrorKind) -> (i32, u16, &'static str) {
    match kind {
        ErrorKind::Invalid => (2, 400, "invalid"),
        ErrorKind::NotFound => (1, 404, "not found"),
        ErrorKind::AlreadyExists => (1, 409, "already exists"),
        other => panic!("the table uses no {other:?}"),
    }
}

impl Case {
    /// The API's body, written by hand so a key can repeat (what the CLI's
    /// `--from-json -` reads too).
    fn body(&self) -> String {
        let values: Vec<String> = self
            .pairs
            .iter()
            .map(|(k, v)| format!("{}:{}", json!(k), json!(v)))
            .collect();
        let mut fields = Vec::new();
        if let Op::Register = self.op {
            fields.push(format!("\"name\":{}", json!(self.name)));
        }
        if let Some(schema) = self.schema {
            fields.push(format!("\"schema\":{}", json!(schema)));
        }
        fields.push(format!("\"values\":{{{}}}", values.join(",")));
        format!("{{{}}}", fields.join(","))
    }

    /// `secret register|update NAME` and the schema flag, if any.
    fn command(&self) -> Vec<String> {
        let verb = match self.op {
            Op::Register => "register",
            Op::Update => "update",
        };
        let mut args = vec!["secret".to_string(), verb.to_string(), self.name.clone()];
        if let Some(schema) = self.schema {
            args.extend(["--schema".to_string(), schema.to_string()]);
        }
        args
    }

    /// The request: method and path.
    fn request(&self) -> (&'static str, String) {
        match self.op {
            Op::Register => ("POST", "/v1/managers/default/secrets".to_string()),
            Op::Update => (
                "PATCH",
                format!("/v1/managers/default/secrets/{}", self.name),
            ),
        }
    }
}

/// The CLI on `store` with `args`, fed `stdin`.
fn cli(store: &str, args: &[String], stdin: Option<&[u8]>) -> flavorbox_tests::Run {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    cli_fed(store, &args, stdin)
}

#[test]
fn the_cli_and_the_api_refuse_the_same_inputs_the_same_way() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("store.db").display());
    cli_on(&store, &["secret", "register", "seed", "k=v"]).ok();
    let write = token(&store, "default", "write", &[]);
    let node = start(&store);

    for case in bad_inputs() {
        let (code, status, prefix) = mapping(case.kind);
        assert_eq!(i32::from(case.kind.exit_code()), code, "{}", case.what);
        let label = format!("{:?} with {}", case.op, case.what);

        // The CLI, with KEY=VALUE arguments.
        let mut args = case.command();
        args.extend(case.pairs.iter().map(|(k, v)| format!("{k}={v}")));
        let by_args = cli(&store, &args, None);
        let line = by_args
            .fails(code, &format!("flavorbox: {prefix}: "))
            .to_string();

        // The CLI, with the API's body as its JSON input.
        let mut args = case.command();
        args.extend(["--from-json".to_string(), "-".to_string()]);
        let body = case.body();
        cli(&store, &args, Some(body.as_bytes())).fails(code, &format!("flavorbox: {prefix}: "));

        // The API, with that body.
        let (method, path) = case.request();
        let answer = call_port(node.port, method, &path, Some(&write), &body);
        assert_eq!(answer.status, status, "{label}: {answer:?}");
        assert_eq!(
            answer.body["error"],
            case.kind.as_str(),
            "{label}: {answer:?}"
        );
        // The same words as the CLI's arguments got.
        let message = answer.body["message"].as_str().unwrap_or_default();
        assert_eq!(line, format!("flavorbox: {message}"), "{label}");
    }

    // Nothing was stored, on either path: the seed alone, unchanged.
    let listed = cli(
        &store,
        &[
            "secret".into(),
            "list".into(),
            "--output".into(),
            "json".into(),
        ],
        None,
    );
    assert_eq!(listed.json(), json!(["seed"]));
    let seed = node.call(
        "GET",
        "/v1/managers/default/secrets/seed",
        Some(&write),
        None,
    );
    assert_eq!(seed.status, 200, "{seed:?}");
    assert_eq!(
        (&seed.body["schema"], &seed.body["values"]),
        (&json!("arbitrary"), &json!({ "k": "v" }))
    );
    // And the same requests, made good, are taken (the refusals above
    // were the rules', not the token's).
    let good = node.call(
        "POST",
        "/v1/managers/default/secrets",
        Some(&write),
        Some(json!({ "name": "fresh", "values": { "k": "v" } })),
    );
    assert_eq!(good.status, 201, "{good:?}");
    let good = node.call(
        "PATCH",
        "/v1/managers/default/secrets/seed",
        Some(&write),
        Some(json!({ "values": { "k": "v2" } })),
    );
    assert_eq!(good.status, 200, "{good:?}");
    let value: Value = node
        .call(
            "GET",
            "/v1/managers/default/secrets/seed",
            Some(&write),
            None,
        )
        .body;
    assert_eq!(value["values"], json!({ "k": "v2" }));
}
