#!/usr/bin/env python3
"""Writes the seed corpus: fuzz/corpus/<target>/seed-* (other files there,
minimized finds, are kept). Python standard library only; run from
anywhere: `python3 fuzz/seeds.py`. The input format is described in
crates/hookgate-fuzz/src/input.rs.

- scheme_<name>: every case of crates/hookgate-verify/tests/vectors/<name>/
  twice: exactly (the case's secrets, public_url, params and clock as
  `#` config lines), and as a `sign` input of the default source (the
  harness signs the case's body and headers itself).
- ingest: per scheme one signed request built from a vector case, plus
  raw HTTP/1.1 requests (valid signatures of the untimed schemes under the
  harness's default secrets, pipelining, chunked bodies, bad framing).
"""

import glob
import hashlib
import hmac
import base64
import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VECTORS = os.path.join(ROOT, "crates/hookgate-verify/tests/vectors")
CORPUS = os.path.join(ROOT, "fuzz/corpus")
# crates/hookgate-fuzz/src/scheme.rs `default_secret`.
DEFAULT_SECRET = "fuzz-secret-It's-a-Secret"


def target(scheme):
    return "scheme_" + scheme.replace("-", "_")


def header_pairs(headers):
    if isinstance(headers, dict):
        return list(headers.items())
    return [tuple(p) for p in headers]


def message(first, config, headers, body):
    out = "@" + " ".join(first) + "\n"
    for k, v in config:
        out += f"#{k}: {v}\n"
    for k, v in headers:
        out += f"{k}: {v}\n"
    out += "\n"
    return out.encode() + body


def write(tgt, name, data, written):
    d = os.path.join(CORPUS, tgt)
    os.makedirs(d, exist_ok=True)
    digest = hashlib.sha1(data).hexdigest()
    if (tgt, digest) in written:
        return
    written.add((tgt, digest))
    with open(os.path.join(d, f"seed-{name}"), "wb") as f:
        f.write(data)


def scheme_seeds(written):
    first_valid = {}
    for path in sorted(glob.glob(os.path.join(VECTORS, "*", "*.json"))):
        scheme = os.path.basename(os.path.dirname(path))
        stem = os.path.splitext(os.path.basename(path))[0]
        doc = json.load(open(path, encoding="utf-8"))
        for i, case in enumerate(doc["cases"]):
            secrets = case.get("secrets", doc.get("secrets", []))
            public_url = case.get("public_url", doc.get("public_url"))
            params = case.get("params", doc.get("params", {}))
            pq = case.get("path_and_query", "/ingest/src")
            config = [("secret", s) for s in secrets]
            if public_url:
                config.append(("public_url", public_url))
            if "tolerance_secs" in case:
                config.append(("tolerance", str(case["tolerance_secs"])))
            config += list(params.items())
            headers = header_pairs(case["headers"])
            body = case["body"].encode("utf-8")
            now = str(case.get("now", 1700000000))
            name = f"{stem}-{i:02}"
            write(target(scheme), name, message([now, pq], config, headers, body), written)
            write(target(scheme), name + "-sign",
                  message([now, pq, "sign"], [], headers + [("x-type", "fuzz.event")], body),
                  written)
            if case.get("expect") == "valid" and scheme not in first_valid:
                first_valid[scheme] = (pq, headers, body)
    # The configurable schemes' default sources read these fields.
    generic = b'{"id":"evt_1","created":1700000000,"data":{"id":"obj_1"}}'
    for scheme in ("hmac", "basic-auth", "header-token"):
        write(target(scheme), "generic-sign",
              message(["1700000000", "sign"], [], [("x-type", "fuzz.event")], generic), written)
    return first_valid


def raw(method, target_path, headers, body):
    head = f"{method} {target_path} HTTP/1.1\r\n"
    for k, v in headers:
        head += f"{k}: {v}\r\n"
    return head.encode() + b"\r\n" + body


def hmac_hex(secret, body):
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def ingest_seeds(first_valid, written):
    for scheme, (pq, headers, body) in sorted(first_valid.items()):
        query = pq[pq.index("?"):] if "?" in pq else ""
        write("ingest", f"signed-{scheme}",
              message(["POST", f"/ingest/{scheme}{query}", "sign"], [],
                      headers + [("x-type", "fuzz.event")], body),
              written)
    github_body = b'{"zen":"Keep it logically awesome.","hook_id":1}'
    gh = [("host", "gw"), ("x-github-event", "ping"), ("x-github-delivery", "d-1"),
          ("x-hub-signature-256", "sha256=" + hmac_hex(DEFAULT_SECRET, github_body)),
          ("content-length", str(len(github_body)))]
    one = raw("POST", "/ingest/github", gh, github_body)
    write("ingest", "raw-github-valid", one, written)
    write("ingest", "raw-github-pipelined", one + one + raw("GET", "/ingest/github", [], b""), written)
    chunked = [h for h in gh if h[0] != "content-length"] + [("transfer-encoding", "chunked")]
    write("ingest", "raw-github-chunked",
          raw("POST", "/ingest/github", chunked, b"%x\r\n%s\r\n0\r\n\r\n" % (len(github_body), github_body)),
          written)
    write("ingest", "raw-github-gzip", raw("POST", "/ingest/github", gh + [("content-encoding", "gzip")], github_body), written)
    co_body = b'{"id":"evt_1","type":"payment_approved","created_on":"2023-11-14T22:13:20Z","data":{"id":"pay_1"}}'
    write("ingest", "raw-checkout-valid",
          raw("POST", "/ingest/checkout?x=1",
              [("cko-signature", hmac_hex(DEFAULT_SECRET, co_body)), ("content-length", str(len(co_body)))],
              co_body),
          written)
    generic = b'{"id":"evt_1","created":1700000000,"data":{"id":"obj_1"}}'
    write("ingest", "raw-header-token-valid",
          raw("POST", "/ingest/header-token",
              [("x-token", DEFAULT_SECRET), ("x-type", "t"), ("content-length", str(len(generic)))],
              generic),
          written)
    basic = base64.b64encode(b"fuzz-user:fuzz-password").decode()
    write("ingest", "raw-basic-auth-valid",
          raw("POST", "/ingest/basic-auth",
              [("authorization", "Basic " + basic), ("x-type", "t"), ("content-length", str(len(generic)))],
              generic),
          written)
    write("ingest", "raw-expect-continue",
          raw("POST", "/ingest/github", [("expect", "100-continue"), ("content-length", "2")], b"{}"), written)
    write("ingest", "raw-unknown-source", raw("POST", "/ingest/nope", [("content-length", "2")], b"{}"), written)
    write("ingest", "raw-too-large", raw("POST", "/ingest/stripe", [("content-length", "99999999")], b"{}"), written)
    write("ingest", "raw-short-body", raw("POST", "/ingest/stripe", [("content-length", "10")], b"{}"), written)
    write("ingest", "raw-absolute-form",
          raw("POST", "http://gw.example/ingest/stripe?a=b", [("content-length", "2")], b"{}"), written)
    slack_challenge = b'{"token":"t","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}'
    write("ingest", "signed-slack-handshake",
          message(["POST", "/ingest/slack", "sign"], [], [("content-type", "application/json")], slack_challenge),
          written)
    twilio_form = b"MessageSid=SM1&AccountSid=AC1&MessageStatus=delivered&To=%2B15550001"
    write("ingest", "signed-twilio-form",
          message(["POST", "/ingest/twilio", "sign"], [], [("content-type", "application/x-www-form-urlencoded")], twilio_form),
          written)


def main():
    for old in glob.glob(os.path.join(CORPUS, "*", "seed-*")):
        os.remove(old)
    written = set()
    first_valid = scheme_seeds(written)
    ingest_seeds(first_valid, written)
    print(f"{len(written)} seeds under {CORPUS}")


if __name__ == "__main__":
    main()
