#!/usr/bin/env python3
"""Generate countersign's own SigV4 test vectors, independently of the Rust code.

This script re-implements AWS Signature Version 4 from the rules in ../../protocol.md using only
the Python standard library (hashlib, hmac). It never imports or reads countersign's Rust code,
so the JSON files it writes are a second opinion, not an echo of the implementation under test.

Usage (run from anywhere):

    python3 generate.py                 # (re)write one <case>.json per case beside this script
    python3 generate.py --check         # exit 1 if a committed JSON file differs from a fresh run
    python3 generate.py --check-suites  # prove the generator against the AWS suites in ../

`--check-suites` signs every case of ../aws-signing-test-suite/v4 (header and presigned-query
variants) and of ../aws-sig-v4-test-suite (legacy layout), plus the worked examples in
../aws-doc-examples, and compares the canonical request, the string to sign and the signature
(and the Authorization value where the suite has one) with the published files.

The JSON schema of a case is documented in README.md beside this script.
"""

import argparse
import hashlib
import hmac
import json
import os
import re
import sys

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNRESERVED = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
)
HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")

# Headers the default signing policy never signs (protocol.md, "Which headers are signed").
# The vectors below avoid them so that "sign every header given" and "sign the default set"
# give the same answer; build_cases() asserts it.
NEVER_SIGNED = frozenset(
    [
        "authorization", "connection", "keep-alive", "proxy-authenticate",
        "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade", "expect",
        "user-agent", "x-amzn-trace-id", "traceparent", "tracestate", "baggage",
    ]
)

HERE = os.path.dirname(os.path.abspath(__file__))
VECTORS = os.path.dirname(HERE)


# --------------------------------------------------------------------------------------------
# SigV4, step by step
# --------------------------------------------------------------------------------------------


def uri_encode(data, keep_slash):
    """Percent-encode every byte except the RFC 3986 unreserved set (and `/` if asked)."""
    out = []
    for byte in data:
        if byte in UNRESERVED or (keep_slash and byte == 0x2F):
            out.append(chr(byte))
        else:
            out.append("%%%02X" % byte)
    return "".join(out)


def percent_decode(text, plus_is_space):
    """Decode %XX escapes to bytes; a `%` without two hex digits after it stays literal."""
    raw = text.encode("utf-8")
    out = bytearray()
    i = 0
    while i < len(raw):
        byte = raw[i]
        if byte == 0x25 and i + 2 < len(raw) and raw[i + 1] in HEX_DIGITS and raw[i + 2] in HEX_DIGITS:
            out.append(int(raw[i + 1 : i + 3], 16))
            i += 3
            continue
        if byte == 0x2B and plus_is_space:
            out.append(0x20)
        else:
            out.append(byte)
        i += 1
    return bytes(out)


def normalize_path(path):
    """Drop empty and `.` segments, let `..` remove the previous one, keep a trailing slash."""
    kept = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if kept:
                kept.pop()
            continue
        kept.append(segment)
    result = "/" + "/".join(kept)
    trailing = path.endswith("/") or path.endswith("/.") or path.endswith("/..")
    if result != "/" and trailing:
        result += "/"
    return result


def canonical_uri(path, uri_encoding, normalize=None):
    """Canonical URI. `double`: normalize, then encode the wire path again. `s3`: verbatim.

    `normalize` overrides the mode's default only for the AWS CRT suite's unnormalized cases.
    """
    if path == "":
        path = "/"
    if uri_encoding == "s3":
        return path
    if uri_encoding != "double":
        raise ValueError("unknown uri_encoding %r" % uri_encoding)
    if normalize is None or normalize:
        path = normalize_path(path)
    return uri_encode(path.encode("utf-8"), keep_slash=True)


def canonical_query(raw):
    """Decode each pair (`+` is a space), re-encode, sort by key then value, join with `&`."""
    pairs = []
    for piece in raw.split("&"):
        if piece == "":
            continue
        key, _, value = piece.partition("=")
        pairs.append(
            (
                uri_encode(percent_decode(key, True), keep_slash=False),
                uri_encode(percent_decode(value, True), keep_slash=False),
            )
        )
    pairs.sort()
    return "&".join("%s=%s" % pair for pair in pairs)


def normalize_header_value(value):
    """Trim spaces at both ends and collapse inner runs of spaces; tabs are left alone."""
    value = value.strip(" ")
    while "  " in value:
        value = value.replace("  ", " ")
    return value


def canonical_headers(headers, names):
    """Return (canonical header block, signed header list) for the lowercase `names`."""
    joined = {}
    for name, value in headers:
        lower = name.lower()
        if lower in names:
            joined.setdefault(lower, []).append(normalize_header_value(value))
    missing = set(names) - set(joined)
    if missing:
        raise ValueError("headers to sign are absent from the request: %s" % sorted(missing))
    ordered = sorted(joined)
    block = "".join("%s:%s\n" % (name, ",".join(joined[name])) for name in ordered)
    return block, ";".join(ordered)


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def hmac_sha256(key, text):
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret, date, region, service):
    """kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")."""
    key = ("AWS4" + secret).encode("utf-8")
    for part in (date, region, service, "aws4_request"):
        key = hmac_sha256(key, part)
    return key


def credential_scope(timestamp, region, service):
    return "%s/%s/%s/aws4_request" % (timestamp[:8], region, service)


def string_to_sign(timestamp, scope, creq):
    return "\n".join([ALGORITHM, timestamp, scope, sha256_hex(creq.encode("utf-8"))])


def payload_hash(case):
    request = case["request"]
    if request["payload"] == UNSIGNED_PAYLOAD:
        return UNSIGNED_PAYLOAD
    if request["payload"] != "body":
        raise ValueError("payload must be 'body' or 'UNSIGNED-PAYLOAD'")
    if case["location"] == "query" and case["uri_encoding"] == "s3":
        return UNSIGNED_PAYLOAD
    return sha256_hex(request["body"].encode("utf-8"))


def sign_case(case, normalize=None):
    """Compute the `expected` object of a case (schema in README.md)."""
    creds = case["credentials"]
    timestamp = case["timestamp"]
    scope = credential_scope(timestamp, case["region"], case["service"])
    request = case["request"]
    token = creds["session_token"]
    body_hash = payload_hash(case)
    headers = list(request["headers"])
    query = request["query"]

    if case["location"] == "header":
        headers.append(["X-Amz-Date", timestamp])
        if token is not None:
            headers.append(["X-Amz-Security-Token", token])
        if case["content_sha256_header"]:
            headers.append(["X-Amz-Content-Sha256", body_hash])
        names = {name.lower() for name, _ in headers}
    elif case["location"] == "query":
        names = {"host"} | {name.lower() for name in case["signed_headers_extra"]}
        signed_list = ";".join(sorted(names))
        added = [
            ("X-Amz-Algorithm", ALGORITHM),
            ("X-Amz-Credential", "%s/%s" % (creds["access_key_id"], scope)),
            ("X-Amz-Date", timestamp),
            ("X-Amz-Expires", str(case["expires_in"])),
            ("X-Amz-SignedHeaders", signed_list),
        ]
        if token is not None:
            added.append(("X-Amz-Security-Token", token))
        encoded = "&".join(
            "%s=%s" % (k, uri_encode(v.encode("utf-8"), keep_slash=False)) for k, v in added
        )
        query = query + "&" + encoded if query else encoded
    else:
        raise ValueError("location must be 'header' or 'query'")

    block, signed = canonical_headers(headers, names)
    creq = "\n".join(
        [
            request["method"],
            canonical_uri(request["path"], case["uri_encoding"], normalize),
            canonical_query(query),
            block,
            signed,
            body_hash,
        ]
    )
    sts = string_to_sign(timestamp, scope, creq)
    key = signing_key(creds["secret_access_key"], timestamp[:8], case["region"], case["service"])
    signature = hmac.new(key, sts.encode("utf-8"), hashlib.sha256).hexdigest()
    authorization = None
    if case["location"] == "header":
        authorization = "%s Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
            ALGORITHM, creds["access_key_id"], scope, signed, signature,
        )
    return {
        "canonical_request": creq,
        "string_to_sign": sts,
        "signature": signature,
        "authorization": authorization,
    }


# --------------------------------------------------------------------------------------------
# countersign's own cases
# --------------------------------------------------------------------------------------------

AKID = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
TOKEN = (
    "IQoJb3JpZ2luX2VjEXAMPLE//////////wEaCXVzLWVhc3QtMSJHMEUCIQD+example/token+"
    "with/slashes+and+plus=="
)
HOST = "example.amazonaws.com"
TS = "20150830T123600Z"
JSON_BODY = '{"name":"widget","tags":["a b","c/d"],"count":2}'


def case(description, method="GET", path="/", query="", headers=None, body="",
         payload="body", location="header", uri_encoding="double", expires_in=None,
         content_sha256_header=False, signed_headers_extra=None, token=None,
         region="us-east-1", service="service", timestamp=TS, access_key_id=AKID,
         secret=SECRET):
    if headers is None:
        headers = [["Host", HOST]]
    if location == "query" and expires_in is None:
        expires_in = 3600
    return {
        "description": description,
        "credentials": {
            "access_key_id": access_key_id,
            "secret_access_key": secret,
            "session_token": token,
        },
        "region": region,
        "service": service,
        "timestamp": timestamp,
        "uri_encoding": uri_encoding,
        "location": location,
        "expires_in": expires_in,
        "content_sha256_header": content_sha256_header,
        "request": {
            "method": method,
            "path": path,
            "query": query,
            "headers": headers,
            "body": body,
            "payload": payload,
        },
        "signed_headers_extra": signed_headers_extra or [],
    }


def build_cases():
    """Every case countersign adds to the AWS suites, keyed by file name (without .json)."""
    s3_host = [["Host", "examplebucket.s3.amazonaws.com"]]
    cases = {
        # ---- presigned URLs --------------------------------------------------------------
        "presign-get-double": case(
            "presigned GET in double mode: payload line is the SHA-256 of the empty body",
            location="query", path="/v1/whoami", expires_in=3600,
        ),
        "presign-post-body-double": case(
            "presigned POST in double mode: payload line is the SHA-256 of the body; the "
            "unsigned Content-Type header stays out of the canonical request",
            method="POST", path="/v1/things", location="query", expires_in=900,
            headers=[["Host", HOST], ["Content-Type", "application/json"]], body=JSON_BODY,
        ),
        "presign-get-s3": case(
            "presigned GET in s3 mode: payload line is UNSIGNED-PAYLOAD",
            location="query", uri_encoding="s3", service="s3", path="/photos/2015/cat%20.jpg",
            expires_in=86400, headers=s3_host,
        ),
        "presign-put-s3-body-unsigned": case(
            "presigned PUT with a body in s3 mode: payload line is UNSIGNED-PAYLOAD, not the "
            "body hash",
            method="PUT", location="query", uri_encoding="s3", service="s3",
            path="/uploads/report.csv", expires_in=600, headers=s3_host, body="a,b\n1,2\n",
        ),
        "presign-unsigned-payload-double": case(
            "presigned GET in double mode with payload UNSIGNED-PAYLOAD and the maximum "
            "X-Amz-Expires (7 days)",
            location="query", path="/download", expires_in=604800, payload=UNSIGNED_PAYLOAD,
        ),
        "presign-session-token": case(
            "presigned GET with a session token: X-Amz-Security-Token is part of the signed "
            "canonical query",
            location="query", path="/v1/whoami", token=TOKEN,
        ),
        "presign-session-token-s3": case(
            "presigned GET in s3 mode with a session token and an existing query",
            location="query", uri_encoding="s3", service="s3", path="/", headers=s3_host,
            query="list-type=2&prefix=photos%2F2015%2F", token=TOKEN, expires_in=300,
        ),
        "presign-extra-signed-headers": case(
            "presigned PUT that also signs content-type and an x-amz-meta header; "
            "SignedHeaders is sorted",
            method="PUT", location="query", path="/objects/1", body="hello",
            headers=[
                ["Host", HOST],
                ["X-Amz-Meta-Owner", "  team  blue "],
                ["Content-Type", "text/plain"],
            ],
            signed_headers_extra=["x-amz-meta-owner", "content-type"],
        ),
        "presign-existing-query-double": case(
            "presigned GET whose own query sorts among the X-Amz parameters",
            location="query", path="/search", query="Zeta=last&Action=List&x-amz-foo=1",
        ),
        # ---- header auth: session tokens and payload modes --------------------------------
        "header-session-token": case(
            "header auth with a session token: x-amz-security-token is added and signed",
            path="/v1/whoami", token=TOKEN,
        ),
        "header-unsigned-payload-double": case(
            "header auth, payload UNSIGNED-PAYLOAD with x-amz-content-sha256 sent and signed",
            method="PUT", path="/blobs/1", body="not hashed", payload=UNSIGNED_PAYLOAD,
            content_sha256_header=True,
        ),
        "header-unsigned-payload-s3": case(
            "s3 mode PUT with UNSIGNED-PAYLOAD in a signed x-amz-content-sha256",
            method="PUT", uri_encoding="s3", service="s3", path="/bucket/key.txt",
            headers=s3_host, body="Welcome to countersign.", payload=UNSIGNED_PAYLOAD,
            content_sha256_header=True,
        ),
        "header-content-sha256-body": case(
            "header auth that signs x-amz-content-sha256 holding the body's SHA-256",
            method="POST", path="/v1/things", body=JSON_BODY, content_sha256_header=True,
            headers=[["Host", HOST], ["Content-Type", "application/json"]],
        ),
        "post-json-body": case(
            "POST with a JSON body: payload line is the SHA-256 of the body bytes",
            method="POST", path="/v1/things", body=JSON_BODY,
            headers=[
                ["Host", HOST],
                ["Content-Type", "application/json"],
                ["Content-Length", str(len(JSON_BODY.encode("utf-8")))],
            ],
        ),
        "defaults-local-countersign": case(
            "server defaults: region local, service countersign, Host with a port",
            path="/v1/whoami", region="local", service="countersign",
            timestamp="20240229T235959Z", headers=[["Host", "127.0.0.1:8080"]],
        ),
        # ---- canonical URI -------------------------------------------------------------
        "s3-path-verbatim": case(
            "s3 mode keeps the wire path as is: no dot-segment removal, no slash merging, "
            "no second encoding",
            uri_encoding="s3", service="s3", path="/bucket/a%20b//c/../d", headers=s3_host,
            content_sha256_header=True,
        ),
        "double-path-unicode-reserved": case(
            "double mode encodes the already-encoded path again: % becomes %25",
            path="/caf%C3%A9/a%2Fb",
        ),
        "double-path-plus-tilde": case(
            "double mode: + in the path is a literal plus (%2B), ~ stays, %7E is encoded again",
            path="/a+b/c%20d/~x/%7Ex/$(1)",
        ),
        "double-path-dot-segments": case(
            "double mode removes . and .. segments and merges repeated slashes",
            path="/a/./b/../c//d//e/..",
        ),
        "double-path-dot-dot-above-root": case(
            "double mode: .. at the root stays at the root; a trailing slash is kept",
            path="//../x/./y/",
        ),
        # ---- canonical headers -----------------------------------------------------------
        "repeated-headers": case(
            "repeated header names are joined with a comma in order of appearance",
            headers=[
                ["Host", HOST],
                ["My-Header", "z"],
                ["X-Custom", "second-sorted"],
                ["my-header", " a "],
                ["MY-HEADER", "m"],
            ],
        ),
        "header-value-spaces": case(
            "header values are trimmed and inner runs of spaces collapsed; tabs are kept",
            headers=[
                ["Host", HOST],
                ["My-Header", "  a   b    c  "],
                ["My-Tabs", "a\t\tb \t c"],
                ["My-Quoted", '"x   y"'],
                ["My-Empty", ""],
            ],
        ),
        # ---- canonical query -------------------------------------------------------------
        "query-repeated-and-empty": case(
            "repeated keys sort by value; an empty value and a missing = both give k=",
            query="a=2&a=1&b=&c",
        ),
        "query-reencoding": case(
            "query pairs are decoded and re-encoded: %7e becomes ~, hex is upper-cased, "
            "reserved characters are encoded",
            query="tilde=%7euser&slash=%2fa%2Fb&star=*&bang=!&eq=a=b&colon=x:y&k%3d=v&&empty",
        ),
        "query-plus-is-space": case(
            "a raw + in the query is read as a space and signed as %20; %2B stays a plus",
            query="q=1+1&r=1%2B1&s=a%20b",
        ),
        "query-unicode": case(
            "percent-encoded UTF-8 in the query keeps its bytes; sorting is by encoded bytes",
            query="%E1%88%B4=1&Z=2&a=3&_=4",
        ),
    }
    for name, item in cases.items():
        for header, _ in item["request"]["headers"]:
            assert header.lower() not in NEVER_SIGNED, (name, header)
        if item["location"] == "header" and item["request"]["payload"] == UNSIGNED_PAYLOAD:
            assert item["content_sha256_header"], name
        if item["location"] == "header":
            assert item["expires_in"] is None and not item["signed_headers_extra"], name
        else:
            assert 1 <= item["expires_in"] <= 604800 and not item["content_sha256_header"], name
    return cases


JSON_STRING = r'"(?:[^"\\]|\\.)*"'
HEADER_PAIR = re.compile(r"\[\n\s+(%s),\n\s+(%s)\n\s+\]" % (JSON_STRING, JSON_STRING))


def render(name, item):
    """The file text: indented JSON with each header pair kept on one line."""
    item = dict(item)
    item["expected"] = sign_case(item)
    text = json.dumps(item, indent=2, ensure_ascii=False)
    return HEADER_PAIR.sub(r"[\1, \2]", text) + "\n"


def write_cases():
    cases = build_cases()
    for name, item in sorted(cases.items()):
        with open(os.path.join(HERE, name + ".json"), "w", encoding="utf-8", newline="\n") as f:
            f.write(render(name, item))
    print("wrote %d vectors to %s" % (len(cases), HERE))


def check_cases():
    cases = build_cases()
    bad = 0
    for name, item in sorted(cases.items()):
        path = os.path.join(HERE, name + ".json")
        try:
            with open(path, encoding="utf-8") as f:
                on_disk = f.read()
        except FileNotFoundError:
            on_disk = None
        if on_disk != render(name, item):
            print("STALE %s" % path)
            bad += 1
    extra = sorted(
        f[:-5] for f in os.listdir(HERE) if f.endswith(".json") and f[:-5] not in cases
    )
    for name in extra:
        print("UNKNOWN %s.json (not produced by this script)" % name)
    bad += len(extra)
    print("%d vectors, %d problems" % (len(cases), bad))
    return bad == 0


# --------------------------------------------------------------------------------------------
# Self-check against the AWS suites
# --------------------------------------------------------------------------------------------


def parse_http(text):
    """Parse a suite's raw request: (method, path, query, [[name, value]...], body)."""
    head, sep, body = text.partition("\n\n")
    if not sep:
        head, body = text.rstrip("\n"), ""
    lines = head.split("\n")
    request_line = lines[0]
    method, _, rest = request_line.partition(" ")
    target = rest.rsplit(" ", 1)[0]  # the target may hold a raw space (get-space)
    path, _, query = target.partition("?")
    headers = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:  # obs-fold continuation
            headers[-1][1] += " " + line
            continue
        name, _, value = line.partition(":")
        headers.append([name, value])
    return method, path, query, headers, body


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def compare(label, got, want, failures):
    for key in ("canonical_request", "string_to_sign", "signature", "authorization"):
        if key in want and got[key] != want[key]:
            failures.append("%s: %s differs\n  got:  %r\n  want: %r" % (label, key, got[key], want[key]))
            return False
    return True


def crt_case(folder, location):
    ctx = json.loads(read(os.path.join(folder, "context.json")))
    method, path, query, headers, body = parse_http(read(os.path.join(folder, "request.txt")))
    creds = ctx["credentials"]
    token = creds.get("token")
    if ctx.get("omit_session_token"):
        token = None  # the suite sends the token but leaves it out of the signature
    ts = ctx["timestamp"].replace("-", "").replace(":", "")
    item = case(
        "crt", method=method, path=path, query=query, headers=headers, body=body,
        location=location, expires_in=ctx["expiration_in_seconds"] if location == "query" else None,
        content_sha256_header=bool(ctx["sign_body"]) and location == "header",
        signed_headers_extra=sorted({n.lower() for n, _ in headers} - {"host"})
        if location == "query" else None,
        token=token, region=ctx["region"], service=ctx["service"], timestamp=ts,
        access_key_id=creds["access_key_id"], secret=creds["secret_access_key"],
    )
    return item, ctx["normalize"]


def check_crt(failures):
    root = os.path.join(VECTORS, "aws-signing-test-suite", "v4")
    names = sorted(os.listdir(root))
    passed = 0
    for name in names:
        folder = os.path.join(root, name)
        for location in ("header", "query"):
            item, normalize = crt_case(folder, location)
            got = sign_case(item, normalize=normalize)
            want = {
                "canonical_request": read(os.path.join(folder, location + "-canonical-request.txt")),
                "string_to_sign": read(os.path.join(folder, location + "-string-to-sign.txt")),
                "signature": read(os.path.join(folder, location + "-signature.txt")).strip(),
            }
            signed_request = read(os.path.join(folder, location + "-signed-request.txt"))
            label = "v4/%s [%s]" % (name, location)
            if not compare(label, got, want, failures):
                continue
            if location == "header":
                carried = ("Authorization:" + got["authorization"] + "\n") in signed_request
            else:
                carried = ("X-Amz-Signature=" + got["signature"] + " ") in signed_request
            if not carried:
                failures.append(label + ": the signed request does not carry our signature")
                continue
            passed += 1
    return passed, 2 * len(names)


# The legacy suite has no context file. get-vanilla-with-session-token signs a token that its
# .req leaves out; the value is the one in the CRT suite's context.json for the same case.
LEGACY_TOKENS = {
    "get-vanilla-with-session-token": "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267",
}


def legacy_folders(root):
    for dirpath, _, files in os.walk(root):
        name = os.path.basename(dirpath)
        if name + ".req" in files:
            yield name, dirpath


def check_legacy(failures):
    root = os.path.join(VECTORS, "aws-sig-v4-test-suite")
    folders = sorted(legacy_folders(root))
    passed = 0
    for name, folder in folders:
        method, path, query, headers, body = parse_http(read(os.path.join(folder, name + ".req")))
        timestamp, token, rest = None, LEGACY_TOKENS.get(name), []
        for header in headers:  # the .req already carries what our signer adds itself
            lower = header[0].lower()
            if lower == "x-amz-date":
                timestamp = header[1].strip()
            elif lower == "x-amz-security-token":
                token = header[1].strip()
            else:
                rest.append(header)
        item = case("legacy", method=method, path=path, query=query, headers=rest, body=body,
                    token=token, timestamp=timestamp)
        got = sign_case(item)
        want = {
            "canonical_request": read(os.path.join(folder, name + ".creq")),
            "string_to_sign": read(os.path.join(folder, name + ".sts")),
            "authorization": read(os.path.join(folder, name + ".authz")),
        }
        passed += compare("legacy/%s" % os.path.relpath(folder, root), got, want, failures)
    return passed, len(folders)


def check_doc_examples(failures):
    data = json.loads(read(os.path.join(VECTORS, "aws-doc-examples", "aws-doc-examples.json")))
    s3 = data["credentials_s3"]
    common = dict(access_key_id=s3["access_key_id"], secret=s3["secret_access_key"],
                  region=s3["region"], service=s3["service"], timestamp=s3["x_amz_date"])
    bodies = {"put-object": "Welcome to Amazon S3."}
    passed = total = 0
    for example in data["header_examples"]:
        headers = [[k, v] for k, v in example["signed_headers_values"].items()
                   if k not in ("x-amz-date", "x-amz-content-sha256")]
        item = case("doc", method=example["method"], path=example["canonical_uri"],
                    query=example["canonical_query"], headers=headers, uri_encoding="s3",
                    body=bodies.get(example["name"], ""), content_sha256_header=True, **common)
        got = sign_case(item)
        got["authorization"] = got["authorization"].replace(", ", ",")  # the docs print `,`
        passed += compare("doc/" + example["name"], got, example, failures)
        total += 1
    pre = data["presigned_url_example"]
    item = case("doc", method=pre["method"], path=pre["canonical_uri"],
                headers=[["Host", pre["host"]]], location="query", uri_encoding="s3",
                expires_in=pre["expires_seconds"], **common)
    passed += compare("doc/" + pre["name"], sign_case(item), pre, failures)
    iam = data["iam_list_users_example"]
    item = case("doc", query="Action=ListUsers&Version=2010-05-08", service="iam",
                headers=[["Host", "iam.amazonaws.com"],
                         ["Content-Type", "application/x-www-form-urlencoded; charset=utf-8"]],
                access_key_id=iam["access_key_id"], secret=iam["secret_access_key"])
    passed += compare("doc/iam-list-users", sign_case(item), iam, failures)
    key = data["signing_key_example"]
    derived = signing_key(key["secret_access_key"], key["date"], key["region"], key["service"])
    if derived.hex() == key["k_signing_hex"]:
        passed += 1
    else:
        failures.append("doc/signing-key: derived %s" % derived.hex())
    return passed, total + 3


def check_suites():
    failures = []
    results = [
        ("aws-signing-test-suite/v4 (header + query)", check_crt(failures)),
        ("aws-sig-v4-test-suite (legacy)", check_legacy(failures)),
        ("aws-doc-examples", check_doc_examples(failures)),
    ]
    for label, (passed, total) in results:
        print("%-45s %3d/%d" % (label, passed, total))
    for failure in failures:
        print("FAIL " + failure)
    return not failures and all(p == t for _, (p, t) in results)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--check", action="store_true", help="compare JSON files, write nothing")
    group.add_argument("--check-suites", action="store_true", help="reproduce the AWS suites")
    args = parser.parse_args()
    if args.check_suites:
        return 0 if check_suites() else 1
    if args.check:
        return 0 if check_cases() else 1
    write_cases()
    return 0


if __name__ == "__main__":
    sys.exit(main())
