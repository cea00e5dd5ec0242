"""Drives the fake Secret Manager (scripts/fake_gcp_secret_manager.py) with
Google's own client, `google-cloud-secret-manager` over its REST transport,
authenticated by google-auth from a service-account key: the check that
the fake answers what Google's client sends the way Google does.

Usage: python gcp_client_check.py ENDPOINT KEY_FILE FAKE_SCRIPT

ENDPOINT is the fake's `http://127.0.0.1:PORT`, KEY_FILE a key it accepts
(its `token_uri` points at the fake), FAKE_SCRIPT the fake itself (imported
only to make a key the fake does not know). Every call's result is checked;
the first mismatch exits 1 with what differed. On success the last line is
`google client: N checks passed`.
"""

import importlib.util
import json
import sys
import time

import google.auth.crypt
import google.auth.jwt
import requests
from google.api_core import exceptions
from google.auth.exceptions import RefreshError
from google.cloud import secretmanager
from google.cloud.secretmanager_v1.services.secret_manager_service.transports.rest import (
    SecretManagerServiceRestTransport,
)
from google.oauth2 import service_account

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
checks = 0


def check(condition, what):
    global checks
    if not condition:
        print(f"google client check failed: {what}", file=sys.stderr)
        sys.exit(1)
    checks += 1


# The REST transport maps HTTP statuses onto api_core's exceptions (409 is
# `Conflict`, 400 `BadRequest`, ...); the gRPC status Google names in the
# error body is checked on top.
GRPC_STATUS = {
    "ALREADY_EXISTS": exceptions.Conflict,
    "ABORTED": exceptions.Conflict,
    "INVALID_ARGUMENT": exceptions.BadRequest,
    "FAILED_PRECONDITION": exceptions.BadRequest,
    "NOT_FOUND": exceptions.NotFound,
    "PERMISSION_DENIED": exceptions.Forbidden,
    "UNAUTHENTICATED": exceptions.Unauthorized,
}


def raises(status, call, what):
    """Checks that `call` fails with Google's error `status`."""
    expected = GRPC_STATUS[status]
    try:
        call()
    except expected as e:
        body = e.response.json() if e.response is not None else {}
        got = body.get("error", {}).get("status")
        check(got == status, f"{what}: expected status {status}, got {got}: {body}")
        check(body["error"]["code"] == e.code, f"{what}: code {body['error']['code']} vs HTTP {e.code}")
        return
    except Exception as e:  # noqa: BLE001 - report what came instead
        check(False, f"{what}: expected {status}, got {type(e).__name__}: {e}")
    check(False, f"{what}: expected {status}, but it succeeded")


def refresh_fails(call, what):
    try:
        call()
    except RefreshError as e:
        check("invalid_grant" in str(e), f"{what}: {e}")
        return
    except Exception as e:  # noqa: BLE001
        check(False, f"{what}: expected RefreshError, got {type(e).__name__}: {e}")
    check(False, f"{what}: expected RefreshError, but it succeeded")


def stats(endpoint):
    return requests.get(f"{endpoint}/_fake/stats", timeout=10).json()


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def main():
    endpoint, key_file, fake_script = sys.argv[1:4]
    with open(key_file) as f:
        key = json.load(f)
    project = key["project_id"]
    parent = f"projects/{project}"
    creds = service_account.Credentials.from_service_account_info(key, scopes=[CLOUD_PLATFORM])

    # The token-endpoint path: a transport that does not use self-signed
    # JWTs, so google-auth exchanges a signed assertion at `token_uri`.
    before = stats(endpoint)["tokens_issued"]
    transport = SecretManagerServiceRestTransport(
        host=endpoint, credentials=creds, always_use_jwt_access=False
    )
    client = secretmanager.SecretManagerServiceClient(transport=transport)

    created = client.create_secret(
        request={
            "parent": parent,
            "secret_id": "check-a",
            "secret": {
                "replication": {"automatic": {}},
                "labels": {"env": "test", "team": "a"},
                "annotations": {"owner": "Check A", "flavorbox-name": "check.A"},
            },
        }
    )
    check(stats(endpoint)["tokens_issued"] == before + 1, "google-auth got a token from the fake")
    check(creds.token and creds.token.startswith("ya29."), "the token is the fake's")
    check(created.name.startswith("projects/") and created.name.endswith("/secrets/check-a"), created.name)
    number = created.name.split("/")[1]
    check(number.isdigit(), f"names carry the project number: {created.name}")
    check(dict(created.labels) == {"env": "test", "team": "a"}, f"labels: {created.labels}")
    check(created.annotations["owner"] == "Check A", "annotations")
    check(created.replication.automatic is not None, "replication")
    check(created.etag, "etag")
    raises(
        "ALREADY_EXISTS",
        lambda: client.create_secret(
            request={"parent": parent, "secret_id": "check-a", "secret": {"replication": {"automatic": {}}}}
        ),
        "creating a taken id",
    )
    raises(
        "INVALID_ARGUMENT",
        lambda: client.create_secret(
            request={"parent": parent, "secret_id": "bad.id", "secret": {"replication": {"automatic": {}}}}
        ),
        "an id with a dot",
    )
    raises(
        "INVALID_ARGUMENT",
        lambda: client.create_secret(
            request={
                "parent": parent,
                "secret_id": "bad-label",
                "secret": {"replication": {"automatic": {}}, "labels": {"env": "Upper"}},
            }
        ),
        "an uppercase label value",
    )
    raises(
        "INVALID_ARGUMENT",
        lambda: client.create_secret(request={"parent": parent, "secret_id": "no-replication", "secret": {}}),
        "a secret without replication",
    )

    got = client.get_secret(request={"name": f"{parent}/secrets/check-a"})
    check(got.name == created.name and got.etag == created.etag, "get returns the created secret")
    raises("NOT_FOUND", lambda: client.get_secret(request={"name": f"{parent}/secrets/nope"}), "get missing")

    v1 = client.add_secret_version(
        request={"parent": created.name, "payload": {"data": b"hello", "data_crc32c": crc32c(b"hello")}}
    )
    check(v1.name == f"{created.name}/versions/1", v1.name)
    check(v1.state == secretmanager.SecretVersion.State.ENABLED, f"state {v1.state}")
    check(v1.client_specified_payload_checksum, "checksum noted")
    raises(
        "INVALID_ARGUMENT",
        lambda: client.add_secret_version(
            request={"parent": created.name, "payload": {"data": b"x", "data_crc32c": 1}}
        ),
        "a wrong CRC32C",
    )
    raises(
        "INVALID_ARGUMENT",
        lambda: client.add_secret_version(request={"parent": created.name, "payload": {"data": b"x" * 65537}}),
        "a payload over 64 KiB",
    )
    client.add_secret_version(request={"parent": created.name, "payload": {"data": b"x" * 65536}})
    v3 = client.add_secret_version(request={"parent": created.name, "payload": {"data": b"world"}})
    check(v3.name.endswith("/versions/3"), v3.name)

    latest = client.access_secret_version(request={"name": f"{created.name}/versions/latest"})
    check(latest.payload.data == b"world", "latest is the newest version")
    check(latest.payload.data_crc32c == crc32c(b"world"), "the fake's CRC32C is Google's")
    check(latest.name == v3.name, latest.name)
    first = client.access_secret_version(request={"name": f"{parent}/secrets/check-a/versions/1"})
    check(first.payload.data == b"hello", "version 1 by number")

    versions = list(client.list_secret_versions(request={"parent": created.name}))
    check([v.name.rsplit("/", 1)[1] for v in versions] == ["3", "2", "1"], f"versions newest first: {versions}")
    paged = client.list_secret_versions(request={"parent": created.name, "page_size": 2})
    check(len(list(paged)) == 3, "version listing pages")

    disabled = client.disable_secret_version(request={"name": v3.name})
    check(disabled.state == secretmanager.SecretVersion.State.DISABLED, "disable")
    raises(
        "FAILED_PRECONDITION",
        lambda: client.access_secret_version(request={"name": f"{created.name}/versions/latest"}),
        "reading a disabled latest version",
    )
    enabled = client.enable_secret_version(request={"name": v3.name})
    check(enabled.state == secretmanager.SecretVersion.State.ENABLED, "enable")
    destroyed = client.destroy_secret_version(request={"name": v1.name})
    check(destroyed.state == secretmanager.SecretVersion.State.DESTROYED, "destroy")
    check(destroyed.destroy_time is not None, "destroy time")
    raises(
        "FAILED_PRECONDITION",
        lambda: client.access_secret_version(request={"name": v1.name}),
        "reading a destroyed version",
    )
    check(
        client.get_secret_version(request={"name": v3.name}).state == secretmanager.SecretVersion.State.ENABLED,
        "get version",
    )
    raises(
        "NOT_FOUND",
        lambda: client.access_secret_version(request={"name": f"{created.name}/versions/9"}),
        "a missing version",
    )

    updated = client.update_secret(
        request={
            "secret": {"name": created.name, "labels": {"env": "prod"}},
            "update_mask": {"paths": ["labels"]},
        }
    )
    check(dict(updated.labels) == {"env": "prod"}, f"labels replaced: {updated.labels}")
    check(updated.annotations["owner"] == "Check A", "annotations kept")
    check(updated.etag != created.etag, "a new etag")

    # Etag-conditioned updates (what the flavor's check-and-set claims and
    # soft-delete marks are): labels and annotations at once with the
    # current etag; a stale etag is ABORTED and changes nothing.
    both = client.update_secret(
        request={
            "secret": {
                "name": created.name,
                "etag": updated.etag,
                "labels": {"env": "prod", "zenml_schema_name": "arbitrary"},
                "annotations": {"owner": "Check A", "flavorbox-claim": '{"version": 4, "at": 1}'},
            },
            "update_mask": {"paths": ["labels", "annotations"]},
        }
    )
    check(both.annotations["flavorbox-claim"] == '{"version": 4, "at": 1}', f"annotations: {both.annotations}")
    check("flavorbox-name" not in both.annotations, "annotations replaced as a whole")
    check(dict(both.labels) == {"env": "prod", "zenml_schema_name": "arbitrary"}, f"labels: {both.labels}")
    check(both.etag not in (updated.etag, created.etag), "a new etag again")
    raises(
        "ABORTED",
        lambda: client.update_secret(
            request={
                "secret": {"name": created.name, "etag": updated.etag, "labels": {"env": "lost"}},
                "update_mask": {"paths": ["labels"]},
            }
        ),
        "an update with a stale etag",
    )
    unchanged = client.get_secret(request={"name": created.name})
    check(dict(unchanged.labels) == dict(both.labels), f"a refused update changes nothing: {unchanged.labels}")
    check(unchanged.etag == both.etag, "a refused update keeps the etag")
    raises(
        "INVALID_ARGUMENT",
        lambda: client.update_secret(request={"secret": {"name": created.name, "labels": {"env": "x"}}}),
        "an update without a mask",
    )

    # Version states with etags: the newest version alone (page size 1),
    # a stale version etag refused, a disabled version unreadable by number,
    # a destroyed one beyond enabling, disabling or destroying.
    newest = client.list_secret_versions(request={"parent": created.name, "page_size": 1})
    first_page = next(iter(newest.pages))
    check([v.name for v in first_page.versions] == [v3.name], f"page size 1 is the newest: {first_page.versions}")
    check(first_page.next_page_token, "more pages after the newest")
    v2 = client.get_secret_version(request={"name": f"{created.name}/versions/2"})
    check(v2.create_time is not None and v2.etag, "a version has a time and an etag")
    raises(
        "ABORTED",
        lambda: client.disable_secret_version(request={"name": v2.name, "etag": '"stale"'}),
        "disabling with a stale etag",
    )
    check(
        client.get_secret_version(request={"name": v2.name}).state == secretmanager.SecretVersion.State.ENABLED,
        "a refused disable changes nothing",
    )
    off = client.disable_secret_version(request={"name": v2.name, "etag": v2.etag})
    check(off.state == secretmanager.SecretVersion.State.DISABLED and off.etag != v2.etag, "disable with the etag")
    raises(
        "FAILED_PRECONDITION",
        lambda: client.access_secret_version(request={"name": v2.name}),
        "reading a disabled version by number",
    )
    on = client.enable_secret_version(request={"name": v2.name, "etag": off.etag})
    check(on.state == secretmanager.SecretVersion.State.ENABLED, "enable with the etag")
    check(client.access_secret_version(request={"name": v2.name}).payload.data == b"x" * 65536, "enabled reads")
    for verb in ("enable", "disable", "destroy"):
        call = getattr(client, f"{verb}_secret_version")
        raises("FAILED_PRECONDITION", lambda: call(request={"name": v1.name}), f"{verb} a destroyed version")
    listed = {v.name.rsplit("/", 1)[1]: v for v in client.list_secret_versions(request={"parent": created.name})}
    check(listed["1"].state == secretmanager.SecretVersion.State.DESTROYED, "a destroyed version stays listed")
    check(listed["1"].destroy_time is not None and listed["2"].destroy_time is None, "destroy times")
    v4 = client.add_secret_version(request={"parent": created.name, "payload": {"data": b"four"}})
    check(v4.name.endswith("/versions/4"), f"numbers keep growing after a destroy: {v4.name}")
    updated = client.get_secret(request={"name": created.name})

    # Listing: pagination, totals and label filters.
    for i in range(23):
        client.create_secret(
            request={
                "parent": parent,
                "secret_id": f"check-list-{i:02}",
                "secret": {"replication": {"automatic": {}}, "labels": {"team": "a" if i % 2 else "b"}},
            }
        )
    pager = client.list_secrets(request={"parent": parent, "page_size": 4, "filter": "labels.team=a"})
    pages = list(pager.pages)
    names = [s.name.rsplit("/", 1)[1] for page in pages for s in page.secrets]
    check(names == [f"check-list-{i:02}" for i in range(1, 23, 2)], f"filtered listing: {names}")
    check(len(pages) == 3, f"11 secrets in pages of 4: {len(pages)} pages")
    check(pages[0].total_size == 11, f"total size {pages[0].total_size}")
    everything = [s.name for s in client.list_secrets(request={"parent": parent})]
    check(len(everything) == 24, f"all 24 secrets: {len(everything)}")
    check(
        len(list(client.list_secrets(request={"parent": parent, "filter": "labels.team:* AND NOT labels.team=a"})))
        == 12,
        "AND, NOT and :*",
    )
    check(
        [s.name.rsplit("/", 1)[1] for s in client.list_secrets(request={"parent": parent, "filter": "name:check-a"})]
        == ["check-a"],
        "name filter",
    )
    check(list(client.list_secrets(request={"parent": parent, "filter": "labels.team=c"})) == [], "empty listing")
    raises(
        "INVALID_ARGUMENT",
        lambda: list(client.list_secrets(request={"parent": parent, "filter": "labels.team=a OR labels.team=b"})),
        "OR is refused",
    )

    # Another project, no credentials, and bad keys.
    raises(
        "PERMISSION_DENIED",
        lambda: client.get_secret(request={"name": "projects/someone-elses/secrets/check-a"}),
        "another project",
    )
    # A 401 makes google-auth try to refresh, so these are asked directly.
    for headers, what in [({}, "no token"), ({"Authorization": "Bearer ya29.forged"}, "a forged token")]:
        answer = requests.get(f"{endpoint}/v1/{created.name}", headers=headers, timeout=10)
        check(answer.status_code == 401 and answer.json()["error"]["status"] == "UNAUTHENTICATED", what)

    spec = importlib.util.spec_from_file_location("fake", fake_script)
    fake = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fake)
    forged = dict(key, private_key=fake.generate_private_key_pem())
    for bad_key, what in [
        (forged, "a key the fake does not know"),
        (dict(key, client_email="stranger@elsewhere.iam.gserviceaccount.com"), "an unknown account"),
    ]:
        bad = service_account.Credentials.from_service_account_info(bad_key, scopes=[CLOUD_PLATFORM])
        bad_client = secretmanager.SecretManagerServiceClient(
            transport=SecretManagerServiceRestTransport(host=endpoint, credentials=bad, always_use_jwt_access=False)
        )
        refresh_fails(lambda: bad_client.get_secret(request={"name": created.name}), what)
    narrow = service_account.Credentials.from_service_account_info(
        key, scopes=["https://www.googleapis.com/auth/userinfo.email"]
    )
    narrow_client = secretmanager.SecretManagerServiceClient(
        transport=SecretManagerServiceRestTransport(host=endpoint, credentials=narrow, always_use_jwt_access=False)
    )
    refresh_fails(lambda: narrow_client.get_secret(request={"name": created.name}), "a token without the scope")

    signer = google.auth.crypt.RSASigner.from_service_account_info(key)
    now = int(time.time())
    valid = {
        "iat": now,
        "exp": now + 3600,
        "iss": key["client_email"],
        "aud": key["token_uri"],
        "scope": CLOUD_PLATFORM,
    }
    for changes, what in [
        ({"iat": now - 7200, "exp": now - 3600}, "an expired assertion"),
        ({"exp": now + 7200}, "an assertion living over an hour"),
        ({"aud": "https://example.com/token"}, "an assertion for another audience"),
        ({"scope": "https://www.googleapis.com/auth/userinfo.email"}, "an assertion without the scope"),
    ]:
        assertion = google.auth.jwt.encode(signer, dict(valid, **changes)).decode()
        answer = requests.post(
            key["token_uri"],
            data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion},
            timeout=10,
        )
        check(answer.status_code == 400 and answer.json()["error"] == "invalid_grant", f"{what}: {answer.text}")
    # The same assertion, valid, is exchanged: the flavor's way (`aud` the
    # key's token_uri) works as well as google-auth's.
    answer = requests.post(
        key["token_uri"],
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "assertion": google.auth.jwt.encode(signer, valid).decode(),
        },
        timeout=10,
    )
    check(answer.status_code == 200 and answer.json()["token_type"] == "Bearer", answer.text)

    # The default client signs its own JWTs (no token endpoint); the fake
    # takes those as Google does.
    issued = stats(endpoint)["tokens_issued"]
    default = secretmanager.SecretManagerServiceClient(
        credentials=service_account.Credentials.from_service_account_info(key, scopes=[CLOUD_PLATFORM]),
        transport="rest",
        client_options={"api_endpoint": endpoint},
    )
    check(default.get_secret(request={"name": created.name}).name == created.name, "self-signed JWT")
    check(stats(endpoint)["tokens_issued"] == issued, "self-signed JWTs need no token endpoint")

    # Deleting: a stale etag is refused, then the secret goes.
    raises(
        "ABORTED",
        lambda: client.delete_secret(request={"name": created.name, "etag": created.etag}),
        "a stale etag",
    )
    client.delete_secret(request={"name": created.name, "etag": updated.etag})
    raises("NOT_FOUND", lambda: client.get_secret(request={"name": created.name}), "deleted")
    raises(
        "NOT_FOUND",
        lambda: client.access_secret_version(request={"name": f"{created.name}/versions/latest"}),
        "reading a deleted secret",
    )
    for i in range(23):
        client.delete_secret(request={"name": f"{parent}/secrets/check-list-{i:02}"})
    check(list(client.list_secrets(request={"parent": parent})) == [], "all gone")
    print(f"google client: {checks} checks passed")


if __name__ == "__main__":
    main()
