"""The table of hostile inputs: what a public endpoint gets sent, and what it must answer.

One row per input: the raw bytes (so invalid UTF-8, duplicate keys and NaN can be sent as
they are), the route, the headers, and the expected status, error type, `param` and a
fragment of the message. docs/hardening.md shows the same table with the answers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from tests.hardening.conftest import API_KEY, AUTH, JSON_AUTH

GOOD: dict[str, object] = {"model": "default", "query": "deploy a model", "documents": ["a cat", "deploy"]}
UNPARSABLE = "the body is not valid JSON"
INVALID = "invalid_request"
NOT_FOUND = "model_not_found"


def body(**fields: object) -> bytes:
    """Return GOOD with `fields` replaced (None values are sent as JSON null)."""
    return json.dumps({**GOOD, **fields}).encode()


def nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


@dataclass(frozen=True)
class Hostile:
    id: str
    group: str
    raw: bytes
    status: int
    type: str | None = INVALID
    param: str | None = None
    fragment: str = ""
    path: str = "/v1/rerank"
    headers: Mapping[str, str | bytes] = field(default_factory=lambda: dict(JSON_AUTH))
    results: int | None = None  # for a 200: how many results the answer must hold
    # For a 200 that means the same as a plain request: GOOD's fields replaced by these. Its
    # answer must equal that request's, index for index and score for score.
    same_as: Mapping[str, object] | None = None


ROWS: list[Hostile] = [
    # --- Wrong types ------------------------------------------------------------------------
    Hostile("model-int", "wrong type", body(model=7), 400, param="model", fragment="must be a string"),
    Hostile(
        "documents-object",
        "wrong type",
        body(documents={"text": "a"}),
        400,
        param="documents",
        fragment="documents must be an array",
    ),
    Hostile(
        "documents-nested-list",
        "wrong type",
        body(documents=[["a"]]),
        400,
        param="documents[0]",
        fragment="documents[0] must be a string or an object with a string text",
    ),
    Hostile(
        "metadata-list",
        "wrong type",
        body(metadata=["a"]),
        400,
        param="metadata",
        fragment="metadata must be an object",
    ),
    Hostile(
        "metadata-nested",
        "wrong type",
        body(metadata={"a": {"b": 1}}),
        400,
        param="metadata.a",
        fragment="metadata.a must be a string",
    ),
    Hostile("user-int", "wrong type", body(user=5), 400, param="user", fragment="user must be a string"),
    Hostile(
        "rank-fields-int",
        "wrong type",
        body(rank_fields=[1]),
        400,
        param="rank_fields[0]",
        fragment="rank_fields[0] must be a string",
    ),
    Hostile(
        "extra-body-string",
        "wrong type",
        body(extra_body="x"),
        400,
        param="extra_body",
        fragment="extra_body must be an object",
    ),
    Hostile(
        "raw-scores-string",
        "wrong type",
        body(extra_body={"raw_scores": "yes"}),
        400,
        "invalid_request",
        "extra_body.raw_scores",
        "boolean",
    ),
    Hostile("top-n-bool", "wrong type", body(top_n=True), 400, param="top_n", fragment="integer"),
    Hostile("top-n-float", "wrong type", body(top_n=2.5), 400, param="top_n", fragment="integer"),
    Hostile(
        "top-n-integral-float",
        "integral float: accepted",
        body(top_n=1.0),
        200,
        results=1,
        same_as={"top_n": 1},
    ),
    Hostile("body-array", "wrong type", b"[1, 2]", 400, fragment="must be a JSON object"),
    # --- Nulls ------------------------------------------------------------------------------
    Hostile("body-null", "null", b"null", 400, fragment="must be a JSON object"),
    Hostile("model-null", "null", body(model=None), 400, param="model", fragment="model must be a string"),
    Hostile(
        "documents-null",
        "null",
        body(documents=None),
        400,
        param="documents",
        fragment="documents must be an array",
    ),
    Hostile(
        "query-null-v2",
        "null",
        body(query=None),
        400,
        param="query",
        path="/v2/rerank",
        fragment="query must be a string",
    ),
    Hostile("top-n-null", "null: same as omitted", body(top_n=None), 200, None, results=2, same_as={}),
    Hostile("truncate-null", "null: same as omitted", body(truncate=None), 200, None, results=2, same_as={}),
    Hostile("metadata-null", "null: same as omitted", body(metadata=None), 200, None, results=2, same_as={}),
    Hostile(
        "extra-body-null", "null: same as omitted", body(extra_body=None), 200, None, results=2, same_as={}
    ),
    # --- Huge strings and numbers -----------------------------------------------------------
    Hostile("query-10001", "huge", body(query="q" * 10_001), 400, param="query", fragment="at most 10000"),
    Hostile(
        "document-100001",
        "huge",
        body(documents=["d" * 100_001]),
        400,
        param="documents[0]",
        fragment="at most 100000",
    ),
    Hostile(
        "document-5mb",
        "huge",
        body(documents=["d" * 5_000_000]),
        400,
        param="documents[0]",
        fragment="5000000 characters",
    ),
    Hostile(
        "title-plus-text",
        "huge",
        body(documents=[{"title": "t" * 60_000, "text": "x" * 60_000}]),
        400,
        param="documents[0].text",
        fragment="at most 100000",
    ),
    Hostile(
        "body-7mb",
        "huge",
        body(documents=["d" * 7_000_000]),
        413,
        "payload_too_large",
        fragment="request body is larger than 6291456 bytes",
    ),
    Hostile("model-129", "huge", body(model="m" * 129), 400, param="model", fragment="at most 128"),
    Hostile(
        "integer-5000-digits",
        "huge",
        body()[:-1] + b', "top_n": ' + b"9" * 5000 + b"}",
        400,
        fragment=UNPARSABLE,
    ),
    Hostile("top-n-1e30", "huge", body(top_n=10**30), 200, None, results=2, same_as={}),
    # --- Empty strings ----------------------------------------------------------------------
    Hostile("model-empty", "empty", body(model=""), 400, param="model", fragment="at least 1 character"),
    Hostile("document-empty", "empty: scored as empty text", body(documents=["", "b"]), 200, None, results=2),
    Hostile(
        "text-empty", "empty: scored as empty text", body(documents=[{"text": ""}]), 200, None, results=1
    ),
    # --- Invalid UTF-8 and Unicode ----------------------------------------------------------
    Hostile(
        "utf8-ff-byte",
        "invalid UTF-8",
        b'{"model": "default", "query": "\xff", "documents": ["a"]}',
        400,
        fragment=UNPARSABLE,
    ),
    Hostile(
        "utf8-overlong",
        "invalid UTF-8",
        b'{"model": "default", "query": "\xc0\xaf", "documents": ["a"]}',
        400,
        fragment=UNPARSABLE,
    ),
    Hostile(
        "utf8-truncated",
        "invalid UTF-8",
        b'{"model": "default", "query": "q", "documents": ["\xe2\x82"]}',
        400,
        fragment=UNPARSABLE,
    ),
    Hostile(
        "latin1-body",
        "invalid UTF-8",
        '{"model": "default", "query": "café", "documents": ["a"]}'.encode("latin-1"),
        400,
        fragment=UNPARSABLE,
    ),
    Hostile(
        "surrogate-query",
        "lone surrogate",
        b'{"model": "default", "query": "\\ud800", "documents": ["a"]}',
        400,
        param="query",
        fragment="surrogate",
    ),
    Hostile(
        "surrogate-document-id",
        "lone surrogate",
        b'{"model": "default", "query": "q", "return_documents": true, '
        b'"documents": [{"text": "a", "id": "\\udfff"}]}',
        400,
        param="documents[0].id",
        fragment="surrogate",
    ),
    Hostile(
        "surrogate-metadata",
        "lone surrogate",
        body()[:-1] + b', "metadata": {"k": "\\ud83d"}}',
        400,
        param="metadata.k",
        fragment="surrogate",
    ),
    Hostile(
        "surrogate-user",
        "lone surrogate",
        body()[:-1] + b', "user": "\\udc00"}',
        400,
        param="user",
        fragment="valid string",
    ),
    Hostile(
        "surrogate-v2",
        "lone surrogate",
        b'{"model": "default", "query": "\\ud800", "documents": ["a"]}',
        400,
        param="query",
        fragment="surrogate",
        path="/v2/rerank",
    ),
    Hostile(
        "surrogate-tei",
        "lone surrogate",
        b'{"query": "q", "texts": ["\\ud800"]}',
        400,
        param="texts[0]",
        fragment="surrogate",
        path="/rerank",
    ),
    Hostile("utf8-bom", "Unicode: accepted", b"\xef\xbb\xbf" + body(), 200, None, results=2, same_as={}),
    Hostile("utf16-bom", "not UTF-8", body().decode().encode("utf-16"), 400, fragment="UTF-16 text"),
    Hostile("utf16-le", "not UTF-8", body().decode().encode("utf-16-le"), 400, fragment="UTF-16-LE text"),
    Hostile("utf32", "not UTF-8", body().decode().encode("utf-32"), 400, fragment="UTF-32 text"),
    Hostile(
        "fusion-weight-nan",
        "non-finite number",
        b'{"model": "default", "query": "q", "documents": ["a", "b"], "extra_body": '
        b'{"first_stage_scores": [1, 2], "fusion": {"method": "combsum", "weight": NaN}}}',
        400,
        param="extra_body.fusion.weight",
        fragment="must be a finite number",
    ),
    Hostile(
        "nul-char", "Unicode: accepted", body(query="q\u0000", documents=["a\u0000b"]), 200, None, results=1
    ),
    Hostile(
        "surrogate-rank-field",
        "lone surrogate",
        b'{"model": "default", "query": "q", "documents": [{"text": "a"}], "rank_fields": ["\\ud800"]}',
        400,
        param="rank_fields[0]",
        fragment="unpaired UTF-16 surrogate",
    ),
    Hostile(
        "query-zero-width", "invisible query", body(query="\u200b"), 400, param="query", fragment="visible"
    ),
    Hostile("query-nul", "invisible query", body(query="\u0000"), 400, param="query", fragment="visible"),
    Hostile(
        "query-soft-hyphen", "invisible query", body(query="\u00ad"), 400, param="query", fragment="visible"
    ),
    Hostile(
        "query-invisible-v2",
        "invisible query",
        body(query="\u200b\u2060"),
        400,
        param="query",
        fragment="visible",
        path="/v2/rerank",
    ),
    Hostile(
        "emoji-rtl",
        "Unicode: accepted",
        body(query="\U0001f680 \u202e", documents=["\u0000", "é"]),
        200,
        None,
        results=2,
    ),
    # --- Numbers JSON has no word for -------------------------------------------------------
    Hostile(
        "nan-metadata",
        "non-finite",
        body()[:-1] + b', "metadata": {"k": NaN}}',
        400,
        param="metadata.k",
        fragment="finite",
    ),
    Hostile(
        "infinity-document-extra",
        "non-finite",
        b'{"model": "default", "query": "q", "return_documents": true, '
        b'"documents": [{"text": "a", "s": -Infinity}]}',
        400,
        param="documents[0].s",
        fragment="finite",
    ),
    Hostile(
        "1e999-metadata",
        "non-finite",
        body()[:-1] + b', "metadata": {"k": 1e999}}',
        400,
        param="metadata.k",
        fragment="finite",
    ),
    Hostile(
        "nan-top-n",
        "non-finite",
        body()[:-1] + b', "top_n": NaN}',
        400,
        param="top_n",
        fragment="top_n must be an integer",
    ),
    # --- Deep JSON --------------------------------------------------------------------------
    Hostile("deep-10000-body", "deep JSON", nested(10_000).encode(), 400, fragment=UNPARSABLE),
    Hostile(
        "deep-10000-documents",
        "deep JSON",
        body()[:-1] + f', "documents": {nested(10_000)}}}'.encode(),
        400,
        fragment=UNPARSABLE,
    ),
    Hostile(
        "deep-100000-metadata",
        "deep JSON",
        body()[:-1] + f', "metadata": {nested(100_000)}}}'.encode(),
        400,
        fragment=UNPARSABLE,
    ),
    Hostile(
        "deep-10000-tei",
        "deep JSON",
        f'{{"query": "q", "texts": {nested(10_000)}}}'.encode(),
        400,
        fragment=UNPARSABLE,
        path="/rerank",
    ),
    Hostile(
        "deep-10000-v2", "deep JSON", nested(10_000).encode(), 400, fragment=UNPARSABLE, path="/v2/rerank"
    ),
    Hostile(
        "deep-500-document-extra",
        "deep JSON: under the limit",
        body(return_documents=True, documents=[{"text": "a", "tree": json.loads(nested(500))}]),
        200,
        None,
        results=1,
    ),
    Hostile(
        "deep-955-document-extra",
        "deep JSON: too deep to echo",
        # Spliced as text: json.loads of 955 levels would exceed the test's own stack here.
        body(return_documents=True, documents=[{"text": "a", "tree": "TREE"}]).replace(
            b'"TREE"', nested(955).encode()
        ),
        400,
        param="documents[0].tree",
        fragment="nested more than 512 levels",
    ),
    # --- Duplicate keys: the last one wins, as in JSON.parse ---------------------------------
    Hostile(
        "duplicate-top-n",
        "duplicate keys",
        body()[:-1] + b', "top_n": 2, "top_n": 1}',
        200,
        None,
        results=1,
        same_as={"top_n": 1},
    ),
    Hostile(
        "duplicate-model",
        "duplicate keys",
        b'{"model": "nope", "model": "default", "query": "q", "documents": ["a"]}',
        200,
        None,
        results=1,
        same_as={"query": "q", "documents": ["a"]},
    ),
    Hostile(
        "duplicate-model-last-unknown",
        "duplicate keys",
        b'{"model": "default", "model": "nope", "query": "q", "documents": ["a"]}',
        404,
        NOT_FOUND,
        "model",
        fragment="model 'nope' is not served here; GET /v1/models lists the models",
    ),
    # --- Document count ---------------------------------------------------------------------
    Hostile(
        "documents-10000",
        "10,000 documents",
        body(documents=["d"] * 10_000),
        400,
        param="documents",
        fragment="10000 items; at most 1000",
    ),
    Hostile(
        "texts-10000-tei",
        "10,000 documents",
        json.dumps({"query": "q", "texts": ["d"] * 10_000}).encode(),
        400,
        param="texts",
        fragment="10000 items",
        path="/rerank",
    ),
    # --- Unknown and path-like models -------------------------------------------------------
    *[
        Hostile(
            f"model-{re.sub(r'[^A-Za-z0-9.-]', '_', name)}",
            "unknown / path-like model",
            body(model=name),
            404,
            NOT_FOUND,
            "model",
            "is not served here",
        )
        for name in [
            "gpt-9",
            "../../etc/passwd",
            "/etc/passwd",
            "s3://other-bucket/x",
            "file:///etc",
            "~root/.ssh/id_rsa",
            "tiny-ce/../../x",
            "%2e%2e%2f%2e%2e%2fetc",
            "C:\\Windows\\win.ini",
            "default\u0000",
        ]
    ],
    Hostile(
        "model-unreachable-store",
        "store down",
        body(model="remote"),
        503,
        "model_unavailable",
        fragment="'remote'",
    ),
    # --- Keys -------------------------------------------------------------------------------
    Hostile(
        "key-prefix",
        "bad key",
        body(),
        401,
        "authentication_error",
        headers={"Authorization": f"Bearer {API_KEY[:-1]}", "Content-Type": "application/json"},
        fragment="invalid API key",
    ),
    Hostile(
        "key-10000-chars",
        "bad key",
        body(),
        401,
        "authentication_error",
        headers={"Authorization": "Bearer " + "k" * 10_000, "Content-Type": "application/json"},
        fragment="invalid API key",
    ),
    Hostile(
        "key-latin1-bytes",
        "bad key",
        body(),
        401,
        "authentication_error",
        headers={"Authorization": b"Bearer cl\xe9", "Content-Type": "application/json"},
        fragment="invalid API key",
    ),
    Hostile(
        "key-two-keys",
        "bad key",
        body(),
        401,
        "authentication_error",
        headers={"Authorization": f"Bearer {API_KEY},{API_KEY}", "Content-Type": "application/json"},
        fragment="invalid API key",
    ),
    Hostile(
        "key-in-query-string",
        "missing key",
        body(),
        401,
        "authentication_error",
        path=f"/v1/rerank?api_key={API_KEY}",
        headers={"Content-Type": "application/json"},
        fragment="missing header: send Authorization: Bearer <API key>",
    ),
    Hostile(
        "key-upper-scheme",
        "key: accepted",
        body(),
        200,
        None,
        results=2,
        headers={"Authorization": f"BEARER  {API_KEY} ", "Content-Type": "application/json"},
        same_as={},
    ),
    # --- Metadata size ----------------------------------------------------------------------
    Hostile(
        "metadata-1000-keys",
        "oversized metadata",
        body(metadata={str(i): i for i in range(1000)}),
        400,
        param="metadata",
        fragment="at most 16 keys",
    ),
    Hostile(
        "metadata-65-char-key",
        "oversized metadata",
        body(metadata={"k" * 65: 1}),
        400,
        param="metadata",
        fragment="at most 64",
    ),
    Hostile(
        "metadata-1mb-value",
        "oversized metadata",
        body(metadata={"k": "v" * 1_000_000}),
        400,
        param="metadata",
        fragment="at most 512",
    ),
    # --- Content type -----------------------------------------------------------------------
    Hostile(
        "no-content-type",
        "content type",
        body(),
        415,
        "unsupported_media_type",
        headers=dict(AUTH),
        fragment="send the body as JSON with Content-Type: application/json",
    ),
    Hostile(
        "no-content-type-tei",
        "content type",
        b'{"query": "q", "texts": ["a"]}',
        415,
        "unsupported_media_type",
        path="/rerank",
        headers=dict(AUTH),
        fragment="send the body as JSON with Content-Type: application/json",
    ),
    # --- The key is checked before the body is judged -----------------------------------------
    Hostile(
        "bad-json-no-key",
        "key before body",
        b"{not json",
        401,
        "authentication_error",
        headers={"Content-Type": "application/json"},
        fragment="missing header: send Authorization: Bearer <API key>",
    ),
    Hostile(
        "bad-json-no-key-v2",
        "key before body",
        b"{not json",
        401,
        "authentication_error",
        path="/v2/rerank",
        headers={"Content-Type": "application/json"},
        fragment="missing header: send Authorization: Bearer <API key>",
    ),
    Hostile(
        "invalid-body-no-key",
        "key before body",
        body(top_n="x"),
        401,
        "authentication_error",
        headers={"Content-Type": "application/json"},
        fragment="missing header: send Authorization: Bearer <API key>",
    ),
    Hostile(
        "form-content-type",
        "content type",
        b"model=default&query=q",
        415,
        "unsupported_media_type",
        headers={**AUTH, "Content-Type": "application/x-www-form-urlencoded"},
        fragment="send the body as JSON with Content-Type: application/json",
    ),
    Hostile(
        "form-content-type-tei",
        "content type",
        b"query=q",
        415,
        "unsupported_media_type",
        path="/rerank",
        headers={**AUTH, "Content-Type": "multipart/form-data; boundary=x"},
        fragment="send the body as JSON with Content-Type: application/json",
    ),
]
