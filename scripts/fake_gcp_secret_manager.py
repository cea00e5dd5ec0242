#!/usr/bin/env python3
"""A local stand-in for Google Cloud Secret Manager (REST API v1) and
Google's OAuth token endpoint, for trying and testing the
`gcp_secrets_manager` flavor without a Google account. Google ships no
emulator for Secret Manager; this one follows the public v1 REST reference
and is checked against Google's own Python client
(tests/support/gcp_client_check.py drives it with google-cloud-secret-manager).

Standard library only. Everything is kept in memory and lost on exit.

    scripts/fake_gcp_secret_manager.py --port 8085 --key-file key.json

serves http://127.0.0.1:8085 and, as `key.json` does not exist, writes a
fresh service-account key there (an RSA key generated now, for the account
`flavorbox@<project>.iam.gserviceaccount.com`, project `flavorbox-fake`,
`token_uri` pointing at this server) and accepts it. An existing key file is
accepted as it is (its public key is derived from the private one). With
`--port 0` a free port is picked. The first line on stdout is
`listening on http://HOST:PORT` once requests are served. `--access-token
TOKEN` makes TOKEN a valid bearer token for the first key's account (for
the flavor's `access_token` config, or for curl).

What it implements, as the reference describes it:

* `POST /token`: the OAuth 2.0 JWT-bearer grant. The assertion must be an
  RS256 JWT signed by an accepted key, with `iss` its `client_email`, `aud`
  this endpoint's URL (or Google's, which google-auth always names),
  `scope` including `.../auth/cloud-platform`, and
  `iat`/`exp` current and at most an hour apart. Answers an opaque access
  token valid for `--token-lifetime` seconds (default 3600). Errors are
  OAuth errors: `{"error": "invalid_grant", "error_description": ...}`.
* API calls need `Authorization: Bearer <token>`: a token issued here, or a
  self-signed JWT (what Google's libraries send when they skip the token
  endpoint) with `aud` `https://secretmanager.googleapis.com/` or a
  cloud-platform `scope`. An account reaches only the project of its key.
* Secrets: `projects.secrets.create/get/list/patch/delete/addVersion`;
  versions: `get`, `list`, `access`, `enable`, `disable`, `destroy`, with the
  `latest` alias. Names in answers use the project *number*, as Google's do.
* `list`: `pageSize` (0 or absent: all, capped at 25,000), opaque
  `pageToken`, `totalSize`, and `filter` with the subset of the filtering
  syntax that Secret Manager documents for secrets: terms joined by spaces or
  `AND` (`OR` and parentheses are refused), each optionally negated with
  `NOT` or `-`: `name:TEXT` (substring of the secret id), `name=ID`,
  `labels.KEY=VALUE`, `labels.KEY:VALUE`, `labels.KEY:*` and `labels:KEY`,
  with `*` as a trailing wildcard and values optionally double-quoted.
* The documented limits: secret ids `[A-Za-z0-9_-]{1,255}`; at most 64
  labels, keys `[\\p{Ll}\\p{Lo}][\\p{Ll}\\p{Lo}\\p{N}_-]{0,62}`, values
  `[\\p{Ll}\\p{Lo}\\p{N}_-]{0,63}`; annotation keys of 1-63 characters
  (alphanumerics at both ends, `-_.` between), all
  annotations together at most 16 KiB; payloads at most 64 KiB, with
  `dataCrc32c` checked when given; `etag` checked on delete, on patch and
  on version state changes (a stale one is 409 ABORTED and changes
  nothing); every change to a secret (patch) or a version (enable,
  disable, destroy) gives it a new etag; `updateMask` required on patch
  (`labels`, `annotations`, comma-separated).
* Versions are numbered 1, 2, 3... per secret, never reused; listed newest
  first; `access` of a DISABLED or DESTROYED version is 400
  FAILED_PRECONDITION, as is enabling, disabling or destroying a
  DESTROYED one; destroying keeps the version listed with its
  `destroyTime`.
* Errors as Google sends them: `{"error": {"code", "message", "status"}}`
  with 400 INVALID_ARGUMENT / FAILED_PRECONDITION, 401 UNAUTHENTICATED,
  403 PERMISSION_DENIED, 404 NOT_FOUND, 409 ALREADY_EXISTS / ABORTED.
* `enum-encoding=int` in `$alt` (Google's REST clients send it) answers
  version states as numbers.

Not implemented (answered 404 or 400): regional secrets
(`projects/*/locations/*`), IAM policies, rotation, topics, expiry, version
aliases, customer-managed encryption, and `OR`/parentheses in filters.

For tests there are two extra endpoints outside the API: `GET /_fake/stats`
(tokens issued, API requests served) and `POST /_fake/revoke-tokens`
(forget every token issued at `/token`, as if revoked).
"""

import argparse
import base64
import binascii
import hashlib
import json
import os
import re
import secrets
import sys
import threading
import time
import unicodedata
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
API_AUDIENCE = "https://secretmanager.googleapis.com/"
# google-auth names Google's endpoint as `aud` whatever the key's token_uri.
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
MAX_BODY = 1024 * 1024
MAX_PAYLOAD = 64 * 1024
MAX_ANNOTATIONS = 16 * 1024
MAX_PAGE = 25000
CLOCK_SKEW = 300

# ----- RSA (PKCS#1 v1.5 with SHA-256), DER and PEM ------------------------

SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")
RSA_OID = bytes.fromhex("06092a864886f70d010101")
SMALL_PRIMES = [p for p in range(3, 2000) if all(p % q for q in range(2, int(p**0.5) + 1))]


def _probable_prime(n, rounds=40):
    for p in SMALL_PRIMES:
        if n % p == 0:
            return n == p
    d, r = n - 1, 0
    while d % 2 == 0:
        d //= 2
        r += 1
    for _ in range(rounds):
        x = pow(secrets.randbelow(n - 3) + 2, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(bits):
    while True:
        candidate = secrets.randbits(bits) | (3 << (bits - 2)) | 1
        if _probable_prime(candidate):
            return candidate


def _der(tag, content):
    n = len(content)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + content


def _der_int(value):
    raw = value.to_bytes(value.bit_length() // 8 + 1, "big")
    return _der(0x02, raw)


def _der_read(data, pos, tag):
    if pos + 2 > len(data) or data[pos] != tag:
        raise ValueError("unexpected DER structure")
    n = data[pos + 1]
    pos += 2
    if n & 0x80:
        count = n & 0x7F
        n = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + n > len(data):
        raise ValueError("truncated DER")
    return data[pos : pos + n], pos + n


def generate_private_key_pem(bits=2048):
    """A fresh RSA key as PKCS#8 PEM (what Google's key files hold)."""
    e = 65537
    while True:
        p, q = _prime(bits // 2), _prime(bits // 2)
        lam = (p - 1) * (q - 1) // _gcd(p - 1, q - 1)
        if p != q and _gcd(e, lam) == 1 and (p * q).bit_length() == bits:
            break
    n, d = p * q, pow(e, -1, lam)
    fields = [0, n, e, d, p, q, d % (p - 1), d % (q - 1), pow(q, -1, p)]
    pkcs1 = _der(0x30, b"".join(_der_int(f) for f in fields))
    algorithm = _der(0x30, RSA_OID + b"\x05\x00")
    pkcs8 = _der(0x30, _der_int(0) + algorithm + _der(0x04, pkcs1))
    body = base64.b64encode(pkcs8).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END PRIVATE KEY-----\n"


def _gcd(a, b):
    while b:
        a, b = b, a % b
    return a


def public_key_of(pem):
    """(n, e) of a PKCS#8 or PKCS#1 RSA private key in PEM."""
    match = re.search(r"-----BEGIN (RSA )?PRIVATE KEY-----(.*?)-----END", pem, re.S)
    if not match:
        raise ValueError("no PEM private key")
    der = base64.b64decode("".join(match.group(2).split()))
    if not match.group(1):  # PKCS#8: unwrap the OCTET STRING
        seq, _ = _der_read(der, 0, 0x30)
        _, pos = _der_read(seq, 0, 0x02)
        algorithm, pos = _der_read(seq, pos, 0x30)
        if not algorithm.startswith(RSA_OID):
            raise ValueError("not an RSA key")
        der, _ = _der_read(seq, pos, 0x04)
    seq, _ = _der_read(der, 0, 0x30)
    _, pos = _der_read(seq, 0, 0x02)
    n, pos = _der_read(seq, pos, 0x02)
    e, _ = _der_read(seq, pos, 0x02)
    return int.from_bytes(n, "big"), int.from_bytes(e, "big")


def rs256_verify(public, message, signature):
    n, e = public
    k = (n.bit_length() + 7) // 8
    if len(signature) != k:
        return False
    s = int.from_bytes(signature, "big")
    if s >= n:
        return False
    em = pow(s, e, n).to_bytes(k, "big")
    t = SHA256_DIGEST_INFO + hashlib.sha256(message).digest()
    expected = b"\x00\x01" + b"\xff" * (k - len(t) - 3) + b"\x00" + t
    return secrets.compare_digest(em, expected)


def b64url_decode(text):
    if not isinstance(text, str) or not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# ----- CRC32C ---------------------------------------------------------------


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


CRC32C_TABLE = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = CRC32C_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


# ----- the service ----------------------------------------------------------


class ApiError(Exception):
    def __init__(self, code, status, message):
        super().__init__(message)
        self.code, self.status, self.message = code, status, message


def invalid(message):
    return ApiError(400, "INVALID_ARGUMENT", message)


def not_found(message):
    return ApiError(404, "NOT_FOUND", message)


def now_rfc3339():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_etag():
    return '"' + secrets.token_hex(8) + '"'


def project_number(project_id):
    digest = hashlib.sha256(project_id.encode()).digest()
    return str(100000000000 + int.from_bytes(digest[:5], "big") % 900000000000)


SECRET_ID = re.compile(r"[A-Za-z0-9_-]{1,255}")
ANNOTATION_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?")
STATES = {"ENABLED": 1, "DISABLED": 2, "DESTROYED": 3}


def _label_char(c, first):
    category = unicodedata.category(c)
    if category in ("Ll", "Lo"):
        return True
    return not first and (category.startswith("N") or c in "_-")


def check_labels(labels):
    if not isinstance(labels, dict):
        raise invalid("labels must be a map")
    if len(labels) > 64:
        raise invalid("A secret may have at most 64 labels.")
    for key, value in labels.items():
        if not isinstance(value, str):
            raise invalid(f"Label value for key '{key}' must be a string.")
        ok_key = 1 <= len(key) <= 63 and all(_label_char(c, i == 0) for i, c in enumerate(key))
        ok_value = len(value) <= 63 and all(_label_char(c, False) for c in value)
        if not ok_key:
            raise invalid(f"Label key '{key}' is invalid.")
        if not ok_value:
            raise invalid(f"Label value '{value}' for key '{key}' is invalid.")


def check_annotations(annotations):
    if not isinstance(annotations, dict):
        raise invalid("annotations must be a map")
    total = 0
    for key, value in annotations.items():
        if not isinstance(value, str):
            raise invalid(f"Annotation value for key '{key}' must be a string.")
        if not ANNOTATION_NAME.fullmatch(key):
            raise invalid(f"Annotation key '{key}' is invalid.")
        total += len(key.encode()) + len(value.encode())
    if total > MAX_ANNOTATIONS:
        raise invalid("The total size of annotations must be less than 16KiB.")


def parse_filter(text):
    """The filter as a list of (negated, field, op, value) terms."""
    if text is None or text.strip() == "":
        return []
    tokens = re.findall(r'"[^"]*"|\S+', text)
    terms = []
    negate = False
    for token in tokens:
        if token == "AND":
            continue
        if token in ("OR",) or "(" in token or ")" in token:
            raise invalid(f"Invalid filter '{text}': OR and parentheses are not supported here.")
        if token == "NOT":
            negate = True
            continue
        if token.startswith("-") and len(token) > 1:
            negate, token = True, token[1:]
        match = re.fullmatch(r'(name|labels(?:\.[^:=\s]+)?)([:=])("[^"]*"|[^"\s]*)', token)
        if not match:
            raise invalid(f"Invalid filter '{text}'.")
        field, op, value = match.groups()
        if value.startswith('"'):
            value = value[1:-1]
        if field == "labels" and op != ":":
            raise invalid(f"Invalid filter '{text}': use labels:KEY or labels.KEY=VALUE.")
        terms.append((negate, field, op, value))
        negate = False
    if negate:
        raise invalid(f"Invalid filter '{text}'.")
    return terms


def _matches_value(actual, op, pattern):
    if pattern.endswith("*"):
        stem = pattern[:-1]
        return actual.startswith(stem) if op == "=" else stem in actual
    return actual == pattern if op == "=" else pattern in actual


def matches(secret_id, secret, terms):
    for negate, field, op, value in terms:
        if field == "name":
            hit = _matches_value(secret_id, op, value)
        elif field == "labels":
            hit = value in secret["labels"]
        else:
            key = field[len("labels.") :]
            if key not in secret["labels"]:
                hit = False
            elif op == ":" and value == "*":
                hit = True
            else:
                hit = _matches_value(secret["labels"][key], op, value)
        if hit == negate:
            return False
    return True


class Service:
    def __init__(self, token_lifetime):
        self.lock = threading.Lock()
        self.accounts = {}  # client_email -> {"public": (n, e), "project": id}
        self.tokens = {}  # access token -> (client_email, expiry)
        self.projects = {}  # project id -> {secret id -> secret}
        self.token_lifetime = token_lifetime
        self.stats = {"tokens_issued": 0, "api_requests": 0}

    def accept_key(self, key):
        email = key["client_email"]
        self.accounts[email] = {
            "public": public_key_of(key["private_key"]),
            "project": key["project_id"],
        }

    # ----- auth -----

    def verify_jwt(self, assertion, audience, need_scope):
        """The claims of an RS256 JWT signed by an accepted key, or an
        error text."""
        parts = assertion.split(".") if isinstance(assertion, str) else []
        if len(parts) != 3:
            return None, "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe"
        try:
            header = json.loads(b64url_decode(parts[0]))
            claims = json.loads(b64url_decode(parts[1]))
            signature = b64url_decode(parts[2])
        except (ValueError, binascii.Error):
            return None, "Invalid JWT: malformed"
        if not isinstance(header, dict) or not isinstance(claims, dict):
            return None, "Invalid JWT: malformed"
        if header.get("alg") != "RS256":
            return None, "Invalid JWT: only RS256 is accepted"
        account = self.accounts.get(claims.get("iss"))
        if account is None:
            return None, "Invalid grant: account not found"
        signed = (parts[0] + "." + parts[1]).encode()
        if not rs256_verify(account["public"], signed, signature):
            return None, "Invalid JWT Signature."
        now = time.time()
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, (int, float)) or not isinstance(exp, (int, float)):
            return None, "Invalid JWT: iat and exp are required"
        if iat > now + CLOCK_SKEW or exp < now - CLOCK_SKEW or exp - iat > 3600:
            return None, "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim."
        scopes = str(claims.get("scope", "")).split()
        if need_scope:
            if claims.get("aud") not in (audience, GOOGLE_TOKEN_URI):
                return None, "Invalid JWT: audience does not match the token endpoint"
            if CLOUD_PLATFORM not in scopes:
                return None, "Invalid scope: the assertion must ask for " + CLOUD_PLATFORM
        elif claims.get("aud") != API_AUDIENCE and CLOUD_PLATFORM not in scopes:
            return None, "Invalid JWT: wrong audience and no cloud-platform scope"
        return claims, None

    def token(self, form, audience):
        if form.get("grant_type") != JWT_BEARER:
            return 400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type."}
        claims, why = self.verify_jwt(form.get("assertion"), audience, need_scope=True)
        if claims is None:
            return 400, {"error": "invalid_grant", "error_description": why}
        token = "ya29.fake-" + secrets.token_urlsafe(32)
        with self.lock:
            self.tokens[token] = (claims["iss"], time.time() + self.token_lifetime)
            self.stats["tokens_issued"] += 1
        return 200, {"access_token": token, "expires_in": self.token_lifetime, "token_type": "Bearer"}

    def caller(self, authorization):
        """The account calling, or an UNAUTHENTICATED error."""
        unauthenticated = ApiError(
            401,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials. Expected OAuth 2 access token, "
            "login cookie or other valid authentication credential.",
        )
        if not authorization or not authorization.startswith("Bearer "):
            raise unauthenticated
        token = authorization[len("Bearer ") :].strip()
        with self.lock:
            known = self.tokens.get(token)
        if known is not None:
            email, expiry = known
            if time.time() < expiry:
                return email
            raise unauthenticated
        claims, _ = self.verify_jwt(token, None, need_scope=False)
        if claims is None or claims.get("sub", claims["iss"]) != claims["iss"]:
            raise unauthenticated
        return claims["iss"]

    # ----- resources -----

    def project(self, email, project, permission):
        account = self.accounts[email]
        own = account["project"]
        if project not in (own, project_number(own)):
            raise ApiError(
                403,
                "PERMISSION_DENIED",
                f"Permission '{permission}' denied for resource 'projects/{project}' "
                "(or it may not exist).",
            )
        return own, self.projects.setdefault(own, {})

    def secret_json(self, project, secret_id, secret):
        body = {
            "name": f"projects/{project_number(project)}/secrets/{secret_id}",
            "replication": secret["replication"],
            "createTime": secret["createTime"],
            "etag": secret["etag"],
        }
        if secret["labels"]:
            body["labels"] = dict(secret["labels"])
        if secret["annotations"]:
            body["annotations"] = dict(secret["annotations"])
        return body

    def version_json(self, project, secret_id, number, version, int_enums):
        body = {
            "name": f"projects/{project_number(project)}/secrets/{secret_id}/versions/{number}",
            "createTime": version["createTime"],
            "state": STATES[version["state"]] if int_enums else version["state"],
            "etag": version["etag"],
            "replicationStatus": {"automatic": {}},
            "clientSpecifiedPayloadChecksum": version["checksummed"],
        }
        if version.get("destroyTime"):
            body["destroyTime"] = version["destroyTime"]
        return body

    def find(self, secrets_of_project, project, secret_id):
        secret = secrets_of_project.get(secret_id)
        if secret is None:
            raise not_found(f"Secret [projects/{project_number(project)}/secrets/{secret_id}] not found.")
        return secret

    def find_version(self, project, secret_id, secret, version):
        if version == "latest":
            if not secret["versions"]:
                raise not_found(
                    f"Secret [projects/{project_number(project)}/secrets/{secret_id}] not found or has no versions."
                )
            number = max(secret["versions"])
        elif re.fullmatch(r"[1-9][0-9]{0,17}", version):
            number = int(version)
        else:
            raise invalid(f"Invalid version id '{version}'.")
        if number not in secret["versions"]:
            raise not_found(
                f"Secret Version [projects/{project_number(project)}/secrets/{secret_id}/versions/{version}] not found."
            )
        return number, secret["versions"][number]

    def handle(self, method, path, query, body, email):
        """One API call: (status, JSON)."""
        match = re.fullmatch(r"/v1/projects/([^/]+)/secrets(?:/([^/:]+)(?:/versions(?:/([^/:]+))?)?)?(?::(\w+))?", path)
        if not match:
            raise not_found(f"The requested URL {path} was not found on this server.")
        project, secret_id, version, verb = match.groups()
        int_enums = "enum-encoding=int" in ";".join(query.get("$alt", []))
        in_versions = "/versions" in path
        with self.lock:
            self.stats["api_requests"] += 1
            if secret_id is None:
                if verb is not None:
                    raise not_found(f"Method {verb} not found.")
                if method == "GET":
                    own, store = self.project(email, project, "secretmanager.secrets.list")
                    return self.list_secrets(own, store, query)
                if method == "POST":
                    own, store = self.project(email, project, "secretmanager.secrets.create")
                    return self.create(own, store, query, body)
                raise ApiError(405, "METHOD_NOT_ALLOWED", f"Method {method} not allowed.")
            if not SECRET_ID.fullmatch(secret_id):
                raise invalid(f"Invalid secret id '{secret_id}'.")
            if not in_versions:
                if verb == "addVersion" and method == "POST":
                    own, store = self.project(email, project, "secretmanager.versions.add")
                    return self.add_version(own, secret_id, self.find(store, own, secret_id), body, int_enums)
                if verb is not None:
                    raise not_found(f"Method {verb} not found.")
                permission = {
                    "GET": "secretmanager.secrets.get",
                    "PATCH": "secretmanager.secrets.update",
                    "DELETE": "secretmanager.secrets.delete",
                }.get(method)
                if permission is None:
                    raise ApiError(405, "METHOD_NOT_ALLOWED", f"Method {method} not allowed.")
                own, store = self.project(email, project, permission)
                secret = self.find(store, own, secret_id)
                if method == "GET":
                    return 200, self.secret_json(own, secret_id, secret)
                if method == "PATCH":
                    return self.patch(own, secret_id, secret, query, body)
                etag = (query.get("etag") or [None])[0]
                if etag and etag != secret["etag"]:
                    raise ApiError(409, "ABORTED", "The etag provided in the request does not match the current etag of the resource.")
                del store[secret_id]
                return 200, {}
            own, store = self.project(email, project, "secretmanager.versions.get")
            secret = self.find(store, own, secret_id)
            if version is None:
                if method != "GET" or verb is not None:
                    raise not_found("Method not found.")
                return self.list_versions(own, secret_id, secret, query, int_enums)
            number, entry = self.find_version(own, secret_id, secret, version)
            if verb is None and method == "GET":
                return 200, self.version_json(own, secret_id, number, entry, int_enums)
            if verb == "access" and method == "GET":
                if entry["state"] != "ENABLED":
                    raise ApiError(
                        400,
                        "FAILED_PRECONDITION",
                        f"Secret Version [projects/{project_number(own)}/secrets/{secret_id}/versions/{number}] is in {entry['state']} state.",
                    )
                data = entry["data"]
                return 200, {
                    "name": f"projects/{project_number(own)}/secrets/{secret_id}/versions/{number}",
                    "payload": {
                        "data": base64.b64encode(data).decode(),
                        "dataCrc32c": str(crc32c(data)),
                    },
                }
            if verb in ("enable", "disable", "destroy") and method == "POST":
                etag = (body or {}).get("etag")
                if etag and etag != entry["etag"]:
                    raise ApiError(409, "ABORTED", "The etag provided in the request does not match the current etag of the resource.")
                if entry["state"] == "DESTROYED":
                    raise ApiError(400, "FAILED_PRECONDITION", "The version is destroyed.")
                if verb == "destroy":
                    entry.update(state="DESTROYED", data=b"", destroyTime=now_rfc3339())
                else:
                    entry["state"] = "ENABLED" if verb == "enable" else "DISABLED"
                entry["etag"] = new_etag()
                return 200, self.version_json(own, secret_id, number, entry, int_enums)
            raise not_found("Method not found.")

    def create(self, project, store, query, body):
        secret_id = (query.get("secretId") or [""])[0]
        if not SECRET_ID.fullmatch(secret_id):
            raise invalid(
                "Secret id must be 1-255 characters long and contain only letters, numbers, "
                "hyphens and underscores."
            )
        body = body or {}
        replication = body.get("replication")
        if not isinstance(replication, dict) or not (
            "automatic" in replication or "userManaged" in replication
        ):
            raise invalid("Secret.replication must be set.")
        labels = body.get("labels") or {}
        annotations = body.get("annotations") or {}
        check_labels(labels)
        check_annotations(annotations)
        if secret_id in store:
            raise ApiError(
                409,
                "ALREADY_EXISTS",
                f"Secret [projects/{project_number(project)}/secrets/{secret_id}] already exists.",
            )
        store[secret_id] = {
            "replication": replication,
            "createTime": now_rfc3339(),
            "etag": new_etag(),
            "labels": dict(labels),
            "annotations": dict(annotations),
            "versions": {},
        }
        return 200, self.secret_json(project, secret_id, store[secret_id])

    def patch(self, project, secret_id, secret, query, body):
        mask = ",".join(query.get("updateMask", [])).strip()
        if not mask:
            raise invalid("update_mask must be specified.")
        body = body or {}
        # Everything is checked before anything changes: a refused update
        # (a stale etag, a bad label) leaves the secret as it was.
        etag = body.get("etag")
        if etag and etag != secret["etag"]:
            raise ApiError(409, "ABORTED", "The etag provided in the request does not match the current etag of the resource.")
        changes = {}
        for field in mask.split(","):
            field = field.strip()
            if field == "labels":
                labels = body.get("labels") or {}
                check_labels(labels)
                changes["labels"] = dict(labels)
            elif field == "annotations":
                annotations = body.get("annotations") or {}
                check_annotations(annotations)
                changes["annotations"] = dict(annotations)
            else:
                raise invalid(f"Unsupported update_mask path: '{field}'.")
        secret.update(changes)
        secret["etag"] = new_etag()
        return 200, self.secret_json(project, secret_id, secret)

    def add_version(self, project, secret_id, secret, body, int_enums):
        payload = (body or {}).get("payload")
        if not isinstance(payload, dict) or not isinstance(payload.get("data", ""), str):
            raise invalid("Secret Payload must be set.")
        try:
            data = base64.b64decode(payload.get("data", ""), validate=True)
        except binascii.Error:
            raise invalid("Secret Payload data is not valid base64.") from None
        if len(data) > MAX_PAYLOAD:
            raise invalid("Secret Payload cannot be larger than 64KiB.")
        checksum = payload.get("dataCrc32c")
        if checksum is not None:
            try:
                given = int(checksum)
            except (TypeError, ValueError):
                raise invalid("data_crc32c is not an integer.") from None
            if given != crc32c(data):
                raise invalid("Checksum mismatch between provided data_crc32c and computed CRC32C.")
        number = max(secret["versions"], default=0) + 1
        secret["versions"][number] = {
            "data": data,
            "state": "ENABLED",
            "createTime": now_rfc3339(),
            "etag": new_etag(),
            "checksummed": checksum is not None,
        }
        return 200, self.version_json(project, secret_id, number, secret["versions"][number], int_enums)

    def page(self, items, query, what):
        """(page of items, next token) for `pageSize` and `pageToken`;
        items are (sort key, value) pairs in order."""
        try:
            size = int((query.get("pageSize") or ["0"])[0])
        except ValueError:
            raise invalid("page_size must be an integer.") from None
        if size < 0:
            raise invalid("page_size must be non-negative.")
        size = MAX_PAGE if size == 0 else min(size, MAX_PAGE)
        token = (query.get("pageToken") or [""])[0]
        start = 0
        if token:
            try:
                after = json.loads(b64url_decode(token))[what]
            except (ValueError, KeyError, TypeError):
                raise invalid("Invalid page token.") from None
            start = next((i for i, (key, _) in enumerate(items) if key > after), len(items))
        chunk = items[start : start + size]
        more = start + size < len(items)
        next_token = (
            base64.urlsafe_b64encode(json.dumps({what: chunk[-1][0]}).encode()).decode().rstrip("=")
            if more and chunk
            else None
        )
        return [value for _, value in chunk], next_token

    def list_secrets(self, project, store, query):
        terms = parse_filter((query.get("filter") or [None])[0])
        items = [
            (secret_id, self.secret_json(project, secret_id, secret))
            for secret_id, secret in sorted(store.items())
            if matches(secret_id, secret, terms)
        ]
        page, token = self.page(items, query, "after")
        body = {}
        if page:
            body["secrets"] = page
        if token:
            body["nextPageToken"] = token
        if items:
            body["totalSize"] = len(items)
        return 200, body

    def list_versions(self, project, secret_id, secret, query, int_enums):
        items = [
            (-number, self.version_json(project, secret_id, number, version, int_enums))
            for number, version in sorted(secret["versions"].items(), reverse=True)
        ]
        page, token = self.page(items, query, "after")
        body = {}
        if page:
            body["versions"] = page
        if token:
            body["nextPageToken"] = token
        if items:
            body["totalSize"] = len(items)
        return 200, body


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-gcp-secret-manager"
    service = None  # set in main

    def log_message(self, fmt, *args):  # quiet; errors still reach stderr
        pass

    def send_json(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        length = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            raise invalid("chunked request bodies are not supported")
        try:
            n = int(length or 0)
        except ValueError:
            raise invalid("bad Content-Length") from None
        if n < 0 or n > MAX_BODY:
            raise ApiError(413, "INVALID_ARGUMENT", "Request body too large.")
        return self.rfile.read(n)

    def dispatch(self, method):
        try:
            raw = self.read_body()
            parts = urlsplit(self.path)
            path = unquote(parts.path)
            query = parse_qs(parts.query, keep_blank_values=True)
            host = self.headers.get("Host", "")
            if path == "/token" and method == "POST":
                form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
                status, body = self.service.token(form, f"http://{host}/token")
                return self.send_json(status, body)
            if path == "/_fake/stats" and method == "GET":
                with self.service.lock:
                    return self.send_json(200, dict(self.service.stats))
            if path == "/_fake/revoke-tokens" and method == "POST":
                with self.service.lock:
                    issued = self.service.tokens
                    self.service.tokens = {t: v for t, v in issued.items() if v[1] == float("inf")}
                return self.send_json(200, {})
            email = self.service.caller(self.headers.get("Authorization"))
            body = None
            if raw.strip():
                try:
                    body = json.loads(raw)
                except ValueError:
                    raise invalid("Invalid JSON payload received.") from None
                if not isinstance(body, dict):
                    raise invalid("Invalid JSON payload received: not an object.")
            status, answer = self.service.handle(method, path, query, body, email)
            self.send_json(status, answer)
        except ApiError as e:
            self.send_json(e.code, {"error": {"code": e.code, "message": e.message, "status": e.status}})

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PATCH(self):
        self.dispatch("PATCH")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def do_PUT(self):
        self.dispatch("PUT")


def write_key(path, project, email_name, token_uri):
    pem = generate_private_key_pem()
    email = f"{email_name}@{project}.iam.gserviceaccount.com"
    key = {
        "type": "service_account",
        "project_id": project,
        "private_key_id": secrets.token_hex(20),
        "private_key": pem,
        "client_email": email,
        "client_id": str(secrets.randbelow(10**20)),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{email}",
        "universe_domain": "googleapis.com",
    }
    tmp = f"{path}.tmp{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(key, f, indent=2)
    os.replace(tmp, path)
    return key


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, required=True, help="port to listen on; 0 picks a free one")
    parser.add_argument(
        "--key-file",
        action="append",
        default=[],
        metavar="PATH",
        help="a service-account key to accept; written (fresh RSA key) when PATH does not exist. Repeatable.",
    )
    parser.add_argument("--project", default="flavorbox-fake", help="project of keys written here")
    parser.add_argument("--account", default="flavorbox", help="account name of keys written here")
    parser.add_argument("--token-lifetime", type=int, default=3600, help="seconds an access token lives")
    parser.add_argument(
        "--access-token",
        metavar="TOKEN",
        help="also accept this bearer token, for the account of the first key, until exit "
        "(for the flavor's `access_token` config, or curl)",
    )
    args = parser.parse_args()

    service = Service(args.token_lifetime)
    Handler.service = service
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    host, port = server.server_address[:2]
    origin = f"http://{host}:{port}"
    for path in args.key_file:
        if os.path.exists(path):
            with open(path) as f:
                key = json.load(f)
        else:
            key = write_key(path, args.project, args.account, f"{origin}/token")
        service.accept_key(key)
        if args.access_token and len(service.tokens) == 0:
            service.tokens[args.access_token] = (key["client_email"], float("inf"))
    print(f"listening on {origin}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
