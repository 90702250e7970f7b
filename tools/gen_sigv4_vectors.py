#!/usr/bin/env python3
"""Generate SigV4 test vectors for src/storage/s3/sigv4.cc from botocore.

Writes tests/storage/testdata/sigv4_vectors.json. The C++ test
(tests/storage/sigv4_test.cc) reads the committed JSON, so neither CI nor the
test needs Python; rerun this only to add cases:

    python3 tools/gen_sigv4_vectors.py            # rewrite the JSON
    python3 tools/gen_sigv4_vectors.py --check    # fail if the JSON is stale

Each case describes a request in the shape vecpuff::s3::SigningRequest takes it
(method, host, the path and query NOT yet encoded, extra headers, payload hash)
and records what botocore's S3SigV4Auth makes of it: the canonical request, the
string to sign, the signature and the Authorization header.

The request is handed to botocore the way botocore's own S3 client builds it
(botocore.serialize + botocore.awsrequest.prepare_request_dict): the key is
percent-encoded with botocore.utils.percent_encode(key, safe='/~') and the query
with botocore.utils.percent_encode_sequence(), both independent of our
UriEncode(). S3SigV4Auth then signs urlsplit(url).path as is (it neither
normalizes nor double-encodes the path for S3) and the query string split on
'&' and sorted, and it takes the Host header from the URL.

Where botocore and the AWS specification could part ways, the cases avoid it
and say so in their "note":
  * botocore turns a "Date" header into the signing date and drops X-Amz-Date;
    our signer always sends x-amz-date. AWS's own PUT example (with both Date
    and x-amz-date) is covered by the documented-example test instead.
  * botocore never signs User-Agent, Expect, Connection, ... (its
    SIGNED_HEADERS_BLACKLIST); our callers do not pass those to the signer.
  * botocore trims header values with str.split() (any Unicode whitespace);
    AWS's Trimall and our signer trim spaces and tabs. Values here use only
    spaces and tabs.
  * botocore lowercases the host from the URL and drops a default port; our
    signer signs the Host value the client sends. Hosts here are lowercase
    and carry only non-default ports.
"""

import argparse
import base64
import calendar
import datetime
import hashlib
import json
import os
import sys
from unittest import mock

import botocore
import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.utils import percent_encode, percent_encode_sequence

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "tests", "storage", "testdata", "sigv4_vectors.json")

# AWS's documented example credentials (not live keys).
AKID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
# A made-up session token with the characters real STS tokens carry ('/', '+', '=').
TOKEN = (
    "IQoJb3JpZ2luX2VjEXAMPLE//////////wEaCXVzLWVhc3QtMSJHMEUCIQD+EXAMPLE"
    "token+with/slashes+and+plus==")
DOC_TIME = datetime.datetime(2013, 5, 24, 0, 0, 0)
LEAP_TIME = datetime.datetime(2024, 2, 29, 23, 59, 59)

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED = "UNSIGNED-PAYLOAD"


def case(name, method, host, raw_path, *, scheme="https", query=(), headers=(),
         body=b"", unsigned=False, token=None, region="us-east-1",
         when=DOC_TIME, note=None):
    return dict(name=name, method=method, scheme=scheme, host=host,
                raw_path=raw_path, query=list(query), headers=list(headers),
                body=body, unsigned=unsigned, token=token, region=region,
                when=when, note=note)


COMPLETE_XML = (
    b'<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
    b'<Part><PartNumber>1</PartNumber><ETag>"a54357aff0632cce46d942af68356b38"</ETag></Part>'
    b'<Part><PartNumber>2</PartNumber><ETag>"0c78aef83f66abc1fa1e8477f296d394"</ETag></Part>'
    b"</CompleteMultipartUpload>")
DELETE_XML = (
    b'<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet>'
    b"<Object><Key>ns/wal/00000000000000000001</Key></Object>"
    b"<Object><Key>ns/segments/a b+c.seg</Key></Object></Delete>")
UPLOAD_ID = ("VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA--"
             "x.y_z~0")
# Real continuation tokens are base64: '+', '/' and '=' all occur.
CONT_TOKEN = "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM+ab=="

CASES = [
    case("get_range_doc_example", "GET", "examplebucket.s3.amazonaws.com",
         "/test.txt", headers=[("Range", "bytes=0-9")],
         note="AWS's documented GET Object example, signed by botocore"),
    case("get_range_path_style_port", "GET", "127.0.0.1:5000",
         "/vecpuff-test/ns/wal/00000000000000000001", scheme="http",
         headers=[("Range", "bytes=100-199")]),
    case("get_range_virtual_eu", "GET",
         "vecpuff.s3.eu-central-1.amazonaws.com", "/ns/segments/000042.seg",
         headers=[("Range", "bytes=1048576-2097151")], region="eu-central-1"),
    case("put_if_none_match", "PUT", "s3.eu-west-1.amazonaws.com",
         "/vecpuff/ns/wal/00000000000000000002",
         headers=[("If-None-Match", "*"),
                  ("Content-Type", "application/octet-stream")],
         body=b"wal batch bytes\x00\x01\x02", region="eu-west-1"),
    case("put_if_match_etag", "PUT", "vecpuff.s3.us-west-2.amazonaws.com",
         "/ns/manifest.json",
         headers=[("If-Match", '"3858f62230ac3c915f300c664312c11f"'),
                  ("Content-Type", "application/json")],
         body=b'{"version":7,"segments":[]}', region="us-west-2"),
    case("put_unsigned_payload", "PUT", "vecpuff.s3.ap-northeast-1.amazonaws.com",
         "/ns/segments/000043.seg", headers=[("If-None-Match", "*")],
         body=b"large segment body, hashed by TLS not SigV4", unsigned=True,
         region="ap-northeast-1"),
    case("head", "HEAD", "vecpuff.s3.amazonaws.com", "/ns/manifest.json"),
    case("head_path_style_port", "HEAD", "127.0.0.1:5000",
         "/vecpuff-test/ns/manifest.json", scheme="http"),
    case("delete", "DELETE", "vecpuff.s3.us-east-2.amazonaws.com",
         "/ns/wal/00000000000000000001", region="us-east-2"),
    case("list_objects_v2_first_page", "GET",
         "vecpuff.s3.eu-west-1.amazonaws.com", "/",
         query=[("list-type", "2"), ("prefix", "ns/wal/"), ("delimiter", "/"),
                ("max-keys", "1000"), ("start-after", "ns/wal/0000000000000000000")],
         region="eu-west-1"),
    case("list_objects_v2_continuation", "GET", "127.0.0.1:5000",
         "/vecpuff-test", scheme="http",
         query=[("list-type", "2"), ("prefix", "ns/segments/"),
                ("continuation-token", CONT_TOKEN), ("max-keys", "2")]),
    case("list_objects_v2_unicode_prefix", "GET",
         "vecpuff.s3.amazonaws.com", "/",
         query=[("prefix", "ü/日本/a b+c="), ("list-type", "2"),
                ("delimiter", "/"), ("encoding-type", "url")]),
    case("key_special_characters_path_style", "GET", "127.0.0.1:5000",
         "/vecpuff-test/a b+c~d%e=f!g*h", scheme="http"),
    case("key_special_characters_virtual", "PUT", "vecpuff.s3.amazonaws.com",
         "/a b+c~d%e=f!g*h", body=b"x"),
    case("key_reserved_characters", "GET", "vecpuff.s3.amazonaws.com",
         "/r/$&'()+,;:@?#[]{}|^`\"<>\\"),
    case("key_unicode", "GET", "vecpuff.s3.amazonaws.com", "/ü/日本/ファイル.bin"),
    case("key_unicode_path_style", "DELETE", "127.0.0.1:5000",
         "/vecpuff-test/ü/日本", scheme="http"),
    case("key_dot_segments_and_double_slash", "GET", "vecpuff.s3.amazonaws.com",
         "/a//b/./c/../d",
         note="S3 signs the path without normalizing it; '.', '..' and '//' stay"),
    case("multipart_create", "POST", "vecpuff.s3.amazonaws.com",
         "/ns/segments/000044.seg", query=[("uploads", "")],
         headers=[("Content-Type", "application/octet-stream")]),
    case("multipart_upload_part", "PUT", "vecpuff.s3.amazonaws.com",
         "/ns/segments/000044.seg",
         query=[("uploadId", UPLOAD_ID), ("partNumber", "1")],
         body=b"part one"),
    case("multipart_complete", "POST", "vecpuff.s3.amazonaws.com",
         "/ns/segments/000044.seg", query=[("uploadId", UPLOAD_ID)],
         headers=[("Content-Type", "application/xml")], body=COMPLETE_XML),
    case("multipart_abort", "DELETE", "127.0.0.1:5000",
         "/vecpuff-test/ns/segments/000044.seg", scheme="http",
         query=[("uploadId", UPLOAD_ID)]),
    case("delete_objects_content_md5", "POST", "vecpuff.s3.amazonaws.com", "/",
         query=[("delete", "")],
         headers=[("Content-MD5", "<md5>"), ("Content-Type", "application/xml")],
         body=DELETE_XML),
    case("session_token_get", "GET", "vecpuff.s3.us-west-2.amazonaws.com",
         "/ns/manifest.json", token=TOKEN, region="us-west-2"),
    case("session_token_conditional_put", "PUT", "127.0.0.1:5000",
         "/vecpuff-test/ns/manifest.json", scheme="http",
         headers=[("If-Match", '"d41d8cd98f00b204e9800998ecf8427e"')],
         body=b'{"version":8}', token=TOKEN, region="eu-north-1"),
    case("header_whitespace_case_and_duplicates", "PUT",
         "vecpuff.s3.amazonaws.com", "/ns/meta",
         headers=[("X-Amz-Meta-Tag", "  first   value  "),
                  ("x-amz-meta-tag", "second\t\tvalue"),
                  ("X-Amz-Meta-Author", "a  b    c"),
                  ("CONTENT-TYPE", "text/plain")],
         body=b"meta",
         note="names lowercased; values trimmed with inner runs folded to one "
              "space; a repeated name signed once, values joined by ',' in order"),
    case("query_sorted_by_encoded_name", "GET", "vecpuff.s3.amazonaws.com", "/",
         query=[("x{", "3"), ("x_", "2"), ("xü", "4"), ("x", "")],
         note="sorted after encoding: 'x%7B' and 'x%C3%BC' sort before 'x_'"),
    case("other_region_and_time", "GET",
         "vecpuff.s3.sa-east-1.amazonaws.com", "/ns/manifest.json",
         region="sa-east-1", when=LEAP_TIME,
         note="signing date 20240229 (leap day) at 23:59:59"),
    case("r2_auto_region", "GET",
         "0123456789abcdef.r2.cloudflarestorage.com", "/vecpuff/ns/manifest.json",
         region="auto"),
]


def build_url(c):
    """The URL as botocore's S3 client builds it, from the raw key and query."""
    url = f"{c['scheme']}://{c['host']}" + percent_encode(c["raw_path"], safe="/~")
    if c["query"]:
        url += "?" + percent_encode_sequence(c["query"])
    return url


def sign(c):
    body = c["body"]
    headers = []
    for name, value in c["headers"]:
        if value == "<md5>":
            value = base64.b64encode(hashlib.md5(body).digest()).decode()
        headers.append((name, value))

    request = AWSRequest(method=c["method"], url=build_url(c), data=body)
    for name, value in headers:
        # HTTPHeaders appends on assignment, so a repeated name stays repeated.
        request.headers[name] = value
    if c["unsigned"]:
        request.context["client_config"] = Config(s3={"payload_signing_enabled": False})

    creds = Credentials(AKID, SECRET, c["token"])
    auth = botocore.auth.S3SigV4Auth(creds, "s3", c["region"])
    captured = {}

    def capture(name, fn):
        def wrapper(*args, **kwargs):
            result = fn(*args, **kwargs)
            captured[name] = result
            return result
        return wrapper

    auth.canonical_request = capture("canonical_request", auth.canonical_request)
    auth.string_to_sign = capture("string_to_sign", auth.string_to_sign)
    auth.signature = capture("signature", auth.signature)
    # botocore >= 1.31 reads the clock through botocore.compat.get_current_datetime,
    # imported into botocore.auth; older versions called datetime.datetime.utcnow().
    with mock.patch.object(botocore.auth, "get_current_datetime",
                           return_value=c["when"]):
        auth.add_auth(request)

    payload = UNSIGNED if c["unsigned"] else hashlib.sha256(body).hexdigest()
    assert request.headers["X-Amz-Content-SHA256"] == payload, c["name"]
    out_headers = {
        "x-amz-date": request.headers["X-Amz-Date"],
        "x-amz-content-sha256": request.headers["X-Amz-Content-SHA256"],
    }
    if c["token"]:
        out_headers["x-amz-security-token"] = request.headers["X-Amz-Security-Token"]

    entry = {
        "name": c["name"],
        "input": {
            "method": c["method"],
            "host": c["host"],
            "raw_path": c["raw_path"],
            "query": [[k, v] for k, v in c["query"]],
            "headers": [[k, v] for k, v in headers],
            "payload_sha256": payload,
            "access_key_id": AKID,
            "secret_access_key": SECRET,
            "session_token": c["token"] or "",
            "region": c["region"],
            "service": "s3",
            "epoch_seconds": calendar.timegm(c["when"].timetuple()),
        },
        "botocore_url": request.url,
        "expected": {
            "canonical_request": captured["canonical_request"],
            "string_to_sign": captured["string_to_sign"],
            "signature": captured["signature"],
            "authorization": request.headers["Authorization"],
            "headers": out_headers,
        },
    }
    if c["note"]:
        entry["note"] = c["note"]
    return entry


def render():
    doc = {
        "about": "SigV4 vectors for vecpuff::s3::SignRequest, signed by botocore's "
                 "S3SigV4Auth. Generated by tools/gen_sigv4_vectors.py; do not edit.",
        "botocore_version": botocore.__version__,
        "cases": [sign(c) for c in CASES],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if the committed JSON differs (ignoring the "
                             "botocore version line)")
    args = parser.parse_args()
    text = render()
    if args.check:
        def strip(t):
            return [l for l in t.splitlines() if '"botocore_version"' not in l]
        with open(OUT, encoding="utf-8") as f:
            if strip(f.read()) != strip(text):
                print(f"{OUT} is stale; rerun {sys.argv[0]}", file=sys.stderr)
                return 1
        return 0
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {len(CASES)} cases to {os.path.relpath(OUT, REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
