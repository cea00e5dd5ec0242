//! The signer checked against AWS's published SigV4 test suite
//! ("aws-sig-v4-test-suite": every request to `example.amazonaws.com` at
//! 20150830T123600Z, region `us-east-1`, service `service`, with the suite's
//! example credentials), AWS's documented signing-key example, and a
//! secretsmanager JSON 1.1 request for determinism.
//!
//! Guards against: a signer that only agrees with itself. Every expected
//! signature, canonical request and string to sign below is a published one
//! (copied from the suite as shipped by the AWS SDKs and aws-c-auth), never
//! one this code produced.

use super::*;

const HOST: &str = "example.amazonaws.com";
const SUITE_TIME: SigningTime = SigningTime::from_unix_seconds(1_440_938_160);
const SUITE_SCOPE: Scope<'static> = Scope {
    region: "us-east-1",
    service: "service",
};
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn suite_credentials(session_token: Option<&str>) -> Credentials {
    Credentials {
        access_key_id: "AKIDEXAMPLE".to_string(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_string(),
        session_token: session_token.map(str::to_string),
    }
}

struct Case<'a> {
    method: &'a str,
    path: &'a str,
    query: &'a [(&'a str, &'a str)],
    headers: &'a [(&'a str, &'a str)],
    payload: &'a [u8],
    token: Option<&'a str>,
}

impl<'a> Case<'a> {
    fn new(method: &'a str) -> Self {
        Case {
            method,
            path: "/",
            query: &[],
            headers: &[],
            payload: b"",
            token: None,
        }
    }

    fn sign(&self) -> Signed {
        let request = Request {
            method: self.method,
            host: HOST,
            path: self.path,
            query: self.query,
            headers: self.headers,
            payload: self.payload,
        };
        sign(
            &request,
            SUITE_SCOPE,
            &suite_credentials(self.token),
            SUITE_TIME,
        )
    }
}

fn authorization(signed_headers: &str, signature: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
         SignedHeaders={signed_headers}, Signature={signature}"
    )
}

#[test]
fn get_vanilla() {
    let signed = Case::new("GET").sign();
    assert_eq!(
        signed.canonical_request,
        format!(
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n\
             host;x-amz-date\n{EMPTY_SHA256}"
        )
    );
    assert_eq!(
        signed.string_to_sign,
        "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n\
         bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"
    );
    assert_eq!(
        signed.authorization,
        authorization(
            "host;x-amz-date",
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        )
    );
    assert_eq!(signed.x_amz_date, "20150830T123600Z");
    assert_eq!(
        signed.headers(),
        vec![
            ("authorization", signed.authorization.clone()),
            ("x-amz-date", "20150830T123600Z".to_string()),
        ]
    );
}

#[test]
fn get_vanilla_query() {
    // The suite's get-vanilla-query has an empty query: same as get-vanilla.
    let signed = Case::new("GET").sign();
    assert_eq!(
        signed.signature,
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    );
}

#[test]
fn get_vanilla_empty_query_key() {
    let signed = Case {
        query: &[("Param1", "value1")],
        ..Case::new("GET")
    }
    .sign();
    assert_eq!(
        signed.signature,
        "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb"
    );
}

#[test]
fn get_vanilla_query_order_key_case() {
    let signed = Case {
        query: &[("Param2", "value2"), ("Param1", "value1")],
        ..Case::new("GET")
    }
    .sign();
    assert!(
        signed
            .canonical_request
            .contains("\nParam1=value1&Param2=value2\n")
    );
    assert_eq!(
        signed.signature,
        "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
    );
}

#[test]
fn get_vanilla_query_unreserved() {
    const UNRESERVED: &str = "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let signed = Case {
        query: &[(UNRESERVED, UNRESERVED)],
        ..Case::new("GET")
    }
    .sign();
    assert_eq!(
        signed.signature,
        "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"
    );
}

#[test]
fn get_vanilla_utf8_query() {
    let signed = Case {
        query: &[("\u{1234}", "bar")],
        ..Case::new("GET")
    }
    .sign();
    assert!(signed.canonical_request.contains("\n%E1%88%B4=bar\n"));
    assert_eq!(
        signed.signature,
        "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"
    );
}

#[test]
fn get_header_key_duplicate() {
    let signed = Case {
        headers: &[
            ("My-Header1", "value2"),
            ("My-Header1", "value2"),
            ("My-Header1", "value1"),
        ],
        ..Case::new("GET")
    }
    .sign();
    assert_eq!(
        signed.authorization,
        authorization(
            "host;my-header1;x-amz-date",
            "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"
        )
    );
}

#[test]
fn get_header_value_order() {
    let signed = Case {
        headers: &[
            ("My-Header1", "value4"),
            ("My-Header1", "value1"),
            ("My-Header1", "value3"),
            ("My-Header1", "value2"),
        ],
        ..Case::new("GET")
    }
    .sign();
    assert!(
        signed
            .canonical_request
            .contains("\nmy-header1:value4,value1,value3,value2\n")
    );
    assert_eq!(
        signed.signature,
        "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01"
    );
}

#[test]
fn get_header_value_trim() {
    let signed = Case {
        headers: &[("My-Header1", " value1"), ("My-Header2", " \"a   b   c\"")],
        ..Case::new("GET")
    }
    .sign();
    assert_eq!(
        signed.canonical_request,
        format!(
            "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nmy-header2:\"a b c\"\n\
             x-amz-date:20150830T123600Z\n\nhost;my-header1;my-header2;x-amz-date\n{EMPTY_SHA256}"
        )
    );
    assert_eq!(
        signed.authorization,
        authorization(
            "host;my-header1;my-header2;x-amz-date",
            "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"
        )
    );
}

#[test]
fn get_unreserved() {
    let signed = Case {
        path: "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        ..Case::new("GET")
    }
    .sign();
    assert_eq!(
        signed.signature,
        "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"
    );
}

#[test]
fn get_utf8() {
    let signed = Case {
        path: "/\u{1234}",
        ..Case::new("GET")
    }
    .sign();
    assert!(signed.canonical_request.starts_with("GET\n/%E1%88%B4\n"));
    assert_eq!(
        signed.signature,
        "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"
    );
}

#[test]
fn get_space() {
    let signed = Case {
        path: "/example space/",
        ..Case::new("GET")
    }
    .sign();
    assert!(
        signed
            .canonical_request
            .starts_with("GET\n/example%20space/\n")
    );
    assert_eq!(
        signed.signature,
        "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"
    );
}

#[test]
fn get_vanilla_with_session_token() {
    let token = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267";
    let signed = Case {
        token: Some(token),
        ..Case::new("GET")
    }
    .sign();
    assert_eq!(
        signed.string_to_sign,
        "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n\
         067b36aa60031588cea4a4cde1f21215227a047690c72247f1d70b32fbbfad2b"
    );
    assert_eq!(
        signed.authorization,
        authorization(
            "host;x-amz-date;x-amz-security-token",
            "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8"
        )
    );
    assert!(
        signed
            .headers()
            .contains(&("x-amz-security-token", token.to_string()))
    );
}

#[test]
fn post_vanilla_and_header_key_case() {
    let signed = Case::new("POST").sign();
    assert_eq!(
        signed.signature,
        "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"
    );
}

#[test]
fn post_header_key_sort() {
    let signed = Case {
        headers: &[("My-Header1", "value1")],
        ..Case::new("POST")
    }
    .sign();
    assert_eq!(
        signed.signature,
        "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c"
    );
}

#[test]
fn post_header_value_case() {
    let signed = Case {
        headers: &[("My-Header1", "VALUE1")],
        ..Case::new("POST")
    }
    .sign();
    assert_eq!(
        signed.signature,
        "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"
    );
}

#[test]
fn post_vanilla_query() {
    let signed = Case {
        query: &[("Param1", "value1")],
        ..Case::new("POST")
    }
    .sign();
    assert_eq!(
        signed.authorization,
        authorization(
            "host;x-amz-date",
            "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"
        )
    );
}

#[test]
fn post_vanilla_query_nonunreserved() {
    let signed = Case {
        query: &[("@#$%^", ""), ("+", "/,?><`\";:\\|][{}")],
        ..Case::new("POST")
    }
    .sign();
    assert_eq!(
        signed.signature,
        "66c82657c86e26fb25238d0e69f011edc4c6df5ae71119d7cb98ed9b87393c1e"
    );
}

#[test]
fn post_sts_header_before() {
    let token = "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";
    let signed = Case {
        token: Some(token),
        ..Case::new("POST")
    }
    .sign();
    assert_eq!(
        signed.authorization,
        authorization(
            "host;x-amz-date;x-amz-security-token",
            "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead"
        )
    );
}

#[test]
fn post_x_www_form_urlencoded() {
    let signed = Case {
        headers: &[("Content-Type", "application/x-www-form-urlencoded")],
        payload: b"Param1=value1",
        ..Case::new("POST")
    }
    .sign();
    assert_eq!(
        signed.canonical_request,
        "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\n\
         host:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n\
         content-type;host;x-amz-date\n\
         9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"
    );
    assert_eq!(
        signed.string_to_sign,
        "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n\
         42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281"
    );
    assert_eq!(
        signed.authorization,
        authorization(
            "content-type;host;x-amz-date",
            "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"
        )
    );
}

#[test]
fn post_x_www_form_urlencoded_parameters() {
    let signed = Case {
        headers: &[(
            "Content-Type",
            "application/x-www-form-urlencoded; charset=utf8",
        )],
        payload: b"Param1=value1",
        ..Case::new("POST")
    }
    .sign();
    assert_eq!(
        signed.signature,
        "1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe"
    );
}

/// AWS's documented example of deriving a signing key (IAM, 2015-08-30).
#[test]
fn signing_key_matches_the_documented_example() {
    let key = signing_key(
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        "20150830",
        Scope {
            region: "us-east-1",
            service: "iam",
        },
    );
    assert_eq!(
        hex::encode(key),
        "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
    );
}

#[test]
fn caller_headers_cannot_override_signer_headers() {
    let signed = Case {
        headers: &[
            ("Host", "evil.example"),
            ("X-Amz-Date", "19990101T000000Z"),
            ("Authorization", "forged"),
        ],
        ..Case::new("GET")
    }
    .sign();
    // Identical to get-vanilla: the caller's copies were ignored.
    assert_eq!(
        signed.signature,
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    );
}

fn secretsmanager_request(payload: &[u8]) -> Signed {
    let request = Request {
        method: "POST",
        host: "secretsmanager.eu-west-1.amazonaws.com",
        path: "/",
        query: &[],
        headers: &[
            ("Content-Type", "application/x-amz-json-1.1"),
            ("X-Amz-Target", "secretsmanager.GetSecretValue"),
        ],
        payload,
    };
    let scope = Scope {
        region: "eu-west-1",
        service: "secretsmanager",
    };
    let credentials = suite_credentials(Some("session"));
    sign(&request, scope, &credentials, SUITE_TIME)
}

#[test]
fn secretsmanager_json_request_is_deterministic_and_complete() {
    let payload = br#"{"SecretId":"team/db_creds"}"#;
    let first = secretsmanager_request(payload);
    let second = secretsmanager_request(payload);
    assert_eq!(first.authorization, second.authorization);
    assert_eq!(first.canonical_request, second.canonical_request);

    assert!(first.authorization.starts_with(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/eu-west-1/secretsmanager/aws4_request, \
         SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, \
         Signature="
    ));
    let lines: Vec<&str> = first.canonical_request.lines().collect();
    assert_eq!(
        lines[..9],
        [
            "POST",
            "/",
            "",
            "content-type:application/x-amz-json-1.1",
            "host:secretsmanager.eu-west-1.amazonaws.com",
            "x-amz-date:20150830T123600Z",
            "x-amz-security-token:session",
            "x-amz-target:secretsmanager.GetSecretValue",
            "",
        ]
    );
    assert_eq!(lines[10], hex::encode(Sha256::digest(payload)));
    assert_eq!(first.signature.len(), 64);

    // Any change to the signed body changes the signature.
    let other = secretsmanager_request(br#"{"SecretId":"team/db_credz"}"#);
    assert_ne!(first.signature, other.signature);
}

#[test]
fn debug_output_hides_secrets() {
    let credentials = suite_credentials(Some("the-token"));
    let printed = format!("{credentials:?}");
    assert!(!printed.contains("EXAMPLEKEY"));
    assert!(!printed.contains("the-token"));
    let signed = secretsmanager_request(b"{}");
    assert!(!format!("{signed:?}").contains("session"));
}

#[test]
fn signing_time_formats_utc() {
    assert_eq!(SUITE_TIME.amz_date(), "20150830T123600Z");
    assert_eq!(SUITE_TIME.date_stamp(), "20150830");
    let epoch = SigningTime::from_unix_seconds(0);
    assert_eq!(epoch.amz_date(), "19700101T000000Z");
    let leap = SigningTime::from_unix_seconds(1_709_251_199);
    assert_eq!(leap.amz_date(), "20240229T235959Z");
    let century = SigningTime::from_unix_seconds(4_107_542_400);
    assert_eq!(century.amz_date(), "21000301T000000Z");
}

#[test]
fn canonical_query_string_encodes_and_sorts() {
    assert_eq!(
        canonical_query_string(&[("b", "2 3"), ("a", "x/y"), ("a", "w")]),
        "a=w&a=x%2Fy&b=2%203"
    );
    assert_eq!(canonical_query_string(&[]), "");
}
