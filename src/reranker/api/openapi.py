"""The OpenAPI document as served: every $ref resolvable, every request carrying its real limits.

FastAPI writes the schemas of the typed routes; this adds the hand-written schemas of
`/rerank` (with their nested models), drops FastAPI's unused 422 (not the one `/rerank` declares
for Infinity's format), and writes the limits that
are settings (documents per request, characters per query and document) into each request
schema, so that a request valid by the document is one the service accepts.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI

from reranker.api.compat.loading import include_compat_routes
from reranker.api.marks import documented_requests
from reranker.config import Settings


def install_openapi(app: FastAPI, settings: Settings) -> None:
    """Make `app.openapi()` return the completed document (built once, then cached)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            include_compat_routes(app)
            from reranker.api.compat.router import COMPONENTS

            # Copies: the limits below are written in place, and pydantic's WithJsonSchema and the
            # hand-written COMPONENTS hand out module-level dicts that every app would share.
            schema = copy.deepcopy(build())
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    _drop_fastapis_422(operation.get("responses", {}))
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for name in ("HTTPValidationError", "ValidationError"):
                components.pop(name, None)
            components.update(copy.deepcopy(COMPONENTS))
            apply_limits(components, settings, documented_requests(app.routes))
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _drop_fastapis_422(responses: dict[str, Any]) -> None:
    """Drop FastAPI's own 422 (never sent: validation errors are 400), keeping one a route declares."""
    schema = responses.get("422", {}).get("content", {}).get("application/json", {}).get("schema", {})
    if schema.get("$ref", "").endswith("/HTTPValidationError"):
        del responses["422"]


def apply_limits(components: dict[str, Any], settings: Settings, requests: dict[str, str]) -> None:
    """Write the limits that are settings into the request schemas, in place.

    `requests`: each scoring route's request schema and the name of its documents list.
    """
    for name, documents in requests.items():
        properties = components.get(name, {}).get("properties", {})
        for query in ("query", "text_1"):  # text_1: the query (or queries) of vLLM's score API
            if query in properties:
                _cap_texts(properties[query], settings.max_query_chars, settings.max_documents)
        if documents in properties:
            _cap_texts(properties[documents], settings.max_document_chars, settings.max_documents)
    # Cohere v2 takes object documents as /v1/rerank does (they are validated as DocumentObject).
    v2_documents = components.get("CohereV2Request", {}).get("properties", {}).get("documents", {})
    for index, member in enumerate(v2_documents.get("items", {}).get("anyOf", [])):
        if member.get("type") == "object":
            v2_documents["items"]["anyOf"][index] = {"$ref": "#/components/schemas/DocumentObject"}
    document = components.get("DocumentObject", {}).get("properties", {})
    for key in ("text", "title"):
        if key in document:
            _cap_strings(document[key], settings.max_document_chars)
    if "DocumentObject" in components:
        components["DocumentObject"]["description"] = (
            components["DocumentObject"].get("description", "")
            + f" `title` and `text` together: at most {settings.max_document_chars} characters."
        ).strip()


def _cap_texts(schema: dict[str, Any], max_length: int, max_items: int) -> None:
    """Cap a field of texts: a string, an array of them, or either (vLLM's `text_2`)."""
    for member in [schema, *schema.get("anyOf", [])]:
        if member.get("type") == "array":
            member["maxItems"] = max_items
            _cap_strings(member.get("items", {}), max_length)
        elif member is not schema or member.get("type") == "string":
            _cap_strings(member, max_length)


def _cap_strings(schema: dict[str, Any], max_length: int) -> None:
    """Set maxLength on a string schema, or on the string members of an anyOf."""
    if schema.get("type") == "string":
        schema["maxLength"] = max_length
    for member in schema.get("anyOf", []):
        _cap_strings(member, max_length)
