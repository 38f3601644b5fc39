"""The OpenAPI 3.1 document of the gateway, written by hand (Starlette has no schema generator worth the
name) and served at /openapi.json; schemathesis tests the app against it."""

from __future__ import annotations

from functools import cache
from typing import Any

_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,128}$"},
}
_N = {
    "name": "n",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 0, "maximum": 10000000},
}
_RENDITION = {
    "name": "rendition",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,32}$"},
}
_SEGMENT = {
    "name": "segment",
    "in": "path",
    "required": True,
    "description": "`<n>.ts` (MPEG-TS), `<n>.m4s` (fMP4) or `init.mp4` (fMP4 initialisation segment)",
    "schema": {"type": "string", "pattern": "^(?:(?:0|[1-9][0-9]{0,7})[.](?:ts|m4s)|init[.]mp4)$"},
}
_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
_BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
_MFA = {
    "name": "X-StreamGate-MFA",
    "in": "header",
    "required": False,
    "description": "TOTP code (step-up); not needed with a step-up token",
    "schema": {"type": "string", "pattern": "^[0-9]{6,8}$"},
}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        304: "Not modified",
        400: "Bad request",
        401: "Missing or invalid token, or MFA step-up required",
        403: "Scope or MFA code refused",
        404: "Not found",
        409: "Conflict (a playlist names objects that are not stored)",
        413: "Too large",
        415: "Unsupported media type",
        416: "Range not satisfiable",
        422: "Invalid input",
        429: "Rate limited",
        503: "Temporarily unavailable",
    }
    return {str(c): {"description": text[c], "content": _ERROR} for c in codes}


def _get_content(kind: str, params: list[dict[str, Any]], deprecated: bool = False) -> dict[str, Any]:
    return {
        "summary": f"Get a {kind} (cached; Range and If-None-Match supported; CORS for allowed origins)",
        "operationId": f"get_{kind}",
        "deprecated": deprecated,
        "parameters": [
            *params,
            {"name": "Range", "in": "header", "required": False, "schema": {"type": "string"}},
            {"name": "If-None-Match", "in": "header", "required": False, "schema": {"type": "string"}},
        ],
        "responses": {
            "200": {
                "description": "The object",
                "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
            },
            "206": {
                "description": "One byte range",
                "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
            },
            "304": {"description": "Not modified"},
            "416": {"description": "Range not satisfiable"},
            **_errors(401, 403, 404, 429, 503),
        },
    }


def _put_content(
    kind: str, params: list[dict[str, Any]], checked: bool = True, deprecated: bool = False
) -> dict[str, Any]:
    codes = (400, 401, 403, 409, 413, 422, 429, 503) if checked else (400, 401, 403, 413, 429, 503)
    return {
        "summary": f"Store a {kind} (admin + MFA step-up); invalidates caches and the CDN"
        + ("; refused unless it is what its name says and everything it names is stored" if checked else ""),
        "operationId": f"put_{kind}",
        "deprecated": deprecated,
        "security": _BEARER,
        "parameters": [*params, _MFA],
        "requestBody": {
            "required": True,
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        },
        "responses": {
            "200": {
                "description": "Stored",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Stored"}}},
            },
            **_errors(*codes),
        },
    }


def _catalog_paths(json_ok: dict[str, Any]) -> dict[str, Any]:
    """The catalog API (runtime/service/catalog_routes.py). 404 also answers where the catalog is off."""
    position = {
        "name": "X-StreamGate-Catalog-Position",
        "in": "header",
        "required": False,
        "description": "the position a catalog write answered: read at it or later (read-your-writes)",
        "schema": {"type": "string", "pattern": "^[0-9]{1,19}$"},
    }
    page = [
        {"name": "after", "in": "query", "required": False, "schema": {"type": "string", "maxLength": 1024}},
        {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1}},
    ]
    read = _errors(400, 404, 422, 429, 503)
    write = {
        "200": {"description": "Written", "content": json_ok},
        **_errors(400, 401, 403, 404, 409, 413, 422, 429, 503),
    }
    body = {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}
    return {
        "/v1/catalog/titles": {
            "get": {
                "summary": "Titles available in this region, by name; `q`: every word in the name (keyset pages)",
                "operationId": "catalog_titles",
                "parameters": [
                    {"name": "q", "in": "query", "required": False, "schema": {"type": "string"}},
                    *page,
                    position,
                ],
                "responses": {
                    "200": {"description": "A page: items and the `next` cursor", "content": json_ok},
                    **read,
                },
            }
        },
        "/v1/catalog/titles/{id}": {
            "get": {
                "summary": "A title with its renditions and regions",
                "operationId": "catalog_title",
                "parameters": [_ID, position],
                "responses": {"200": {"description": "The title", "content": json_ok}, **read},
            },
            "put": {
                "summary": "Create or update a title (admin + MFA step-up; If-Match: the version read)",
                "operationId": "catalog_put_title",
                "security": _BEARER,
                "parameters": [_ID, _MFA],
                "requestBody": body,
                "responses": {"201": {"description": "Created", "content": json_ok}, **write},
            },
            "delete": {
                "summary": "Delete a title, its renditions and segments (admin + MFA step-up)",
                "operationId": "catalog_delete_title",
                "security": _BEARER,
                "parameters": [_ID, _MFA],
                "responses": write,
            },
        },
        "/v1/catalog/titles/{id}/episodes": {
            "get": {
                "summary": "A series' episodes by season and number (keyset pages)",
                "operationId": "catalog_episodes",
                "parameters": [_ID, *page, position],
                "responses": {"200": {"description": "A page", "content": json_ok}, **read},
            }
        },
        "/v1/catalog/titles/{id}/renditions/{rendition}": {
            "put": {
                "summary": "Create or replace a rendition and its segments (admin + MFA step-up)",
                "operationId": "catalog_put_rendition",
                "security": _BEARER,
                "parameters": [_ID, _RENDITION, _MFA],
                "requestBody": body,
                "responses": write,
            }
        },
        "/v1/catalog/titles/{id}/renditions/{rendition}/segments/{n}": {
            "get": {
                "summary": "One segment's record (what the content path checks)",
                "operationId": "catalog_segment",
                "parameters": [_ID, _RENDITION, _N],
                "responses": {"200": {"description": "The segment", "content": json_ok}, **read},
            }
        },
    }


@cache
def openapi_document() -> dict[str, Any]:
    event = {
        "type": "object",
        "additionalProperties": False,
        "required": ["type", "session_id", "content_id", "ts"],
        "properties": {
            "type": {"enum": ["start", "heartbeat", "stop", "error"]},
            "session_id": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,128}$"},
            "content_id": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,128}$"},
            "ts": {"type": "number", "description": "Unix seconds"},
            "bitrate_kbps": {"type": ["integer", "null"], "minimum": 0, "maximum": 1000000},
            "played_seconds": {"type": "number", "minimum": 0, "maximum": 3600},
            "buffering_seconds": {"type": "number", "minimum": 0, "maximum": 3600},
            "error_code": {"type": ["string", "null"], "minLength": 1, "maxLength": 64},
        },
    }
    json_ok = {"application/json": {"schema": {"type": "object"}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "StreamGate gateway", "version": "1"},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "properties": {"error": {"type": "string"}}},
                "Stored": {
                    "type": "object",
                    "properties": {
                        "key": {"type": "string"},
                        "etag": {"type": "string"},
                        "size": {"type": "integer"},
                        "invalidated": {"type": "array", "items": {"type": "string"}},
                    },
                },
                "PlaybackEvent": event,
            },
        },
        "paths": {
            "/v1/content/{id}/master.m3u8": {
                "get": _get_content("master_playlist", [_ID]),
                "put": _put_content("master_playlist", [_ID]),
            },
            "/v1/content/{id}/{rendition}/index.m3u8": {
                "get": _get_content("media_playlist", [_ID, _RENDITION]),
                "put": _put_content("media_playlist", [_ID, _RENDITION]),
            },
            "/v1/content/{id}/{rendition}/{segment}": {
                "get": _get_content("media_segment", [_ID, _RENDITION, _SEGMENT]),
                "put": _put_content("media_segment", [_ID, _RENDITION, _SEGMENT]),
            },
            "/v1/content/{id}/renditions": {
                "post": {
                    "summary": "Store a whole rendition set of a title (admin + MFA step-up): a tar of "
                    "master.m3u8, <rendition>/index.m3u8 and their segments, checked as a whole first",
                    "operationId": "post_renditions",
                    "security": _BEARER,
                    "parameters": [_ID, _MFA],
                    "requestBody": {
                        "required": True,
                        "content": {"application/x-tar": {"schema": {"type": "string", "format": "binary"}}},
                    },
                    "responses": {
                        "200": {
                            "description": "Stored",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        **_errors(400, 401, 403, 409, 413, 415, 422, 429, 503),
                    },
                }
            },
            "/v1/content/{id}/manifest": {
                "get": _get_content("manifest", [_ID], deprecated=True),
                "put": _put_content("manifest", [_ID], checked=False, deprecated=True),
            },
            "/v1/content/{id}/segments/{n}": {
                "get": _get_content("segment", [_ID, _N], deprecated=True),
                "put": _put_content("segment", [_ID, _N], checked=False, deprecated=True),
            },
            "/v1/events": {
                "post": {
                    "summary": "Ingest a batch of playback events (validated one by one)",
                    "operationId": "post_events",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["events"],
                                    "properties": {
                                        "events": {
                                            "type": "array",
                                            "maxItems": 500,
                                            "items": {"$ref": "#/components/schemas/PlaybackEvent"},
                                        }
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "202": {
                            "description": "Accepted (possibly with per-event rejections)",
                            "content": json_ok,
                        },
                        **_errors(400, 401, 403, 413, 422, 429, 503),
                    },
                }
            },
            "/v1/analytics/realtime": {
                "get": {
                    "summary": "Current aggregates (sliding and last tumbling window)",
                    "operationId": "analytics_realtime",
                    "responses": {
                        "200": {"description": "Aggregates", "content": json_ok},
                        **_errors(401, 403, 429),
                    },
                }
            },
            "/v1/auth/step-up": {
                "post": {
                    "summary": "Exchange an admin token and a TOTP code for a short-lived step-up token",
                    "operationId": "auth_step_up",
                    "security": _BEARER,
                    "parameters": [_MFA],
                    "responses": {
                        "200": {"description": "Step-up token", "content": json_ok},
                        **_errors(400, 401, 403, 429, 503),
                    },
                }
            },
            "/v1/admin/faults": {
                "get": {
                    "summary": "Current fault injection of this instance",
                    "operationId": "get_faults",
                    "security": _BEARER,
                    "responses": {
                        "200": {"description": "Faults", "content": json_ok},
                        **_errors(401, 403, 429),
                    },
                },
                "put": {
                    "summary": "Set fault injection on this instance (drills; admin + MFA step-up)",
                    "operationId": "put_faults",
                    "security": _BEARER,
                    "parameters": [_MFA],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "properties": {
                                        "error_rate": {"type": "number", "minimum": 0, "maximum": 1},
                                        "latency_seconds": {"type": "number", "minimum": 0, "maximum": 30},
                                        "latency_rate": {"type": "number", "minimum": 0, "maximum": 1},
                                        "cpu_seconds": {"type": "number", "minimum": 0, "maximum": 1},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": {"description": "Faults", "content": json_ok},
                        **_errors(401, 403, 422, 429, 503),
                    },
                },
            },
            "/v1/admin/profile": {
                "post": {
                    "summary": "Capture a CPU profile of this process for N seconds (admin + MFA step-up)",
                    "operationId": "admin_profile",
                    "security": _BEARER,
                    "parameters": [
                        _MFA,
                        {
                            "name": "seconds",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "number", "exclusiveMinimum": 0, "maximum": 30},
                        },
                        {
                            "name": "format",
                            "in": "query",
                            "required": False,
                            "schema": {"enum": ["text", "html", "speedscope"]},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "Profile",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        },
                        **_errors(401, 403, 409, 422, 429, 503),
                    },
                }
            },
            **_catalog_paths(json_ok),
            **_debug_paths(),
            "/healthz": {
                "get": {
                    "operationId": "healthz",
                    "responses": {"200": {"description": "Alive", "content": json_ok}},
                }
            },
            "/readyz": {
                "get": {
                    "operationId": "readyz",
                    "responses": {
                        "200": {"description": "Ready", "content": json_ok},
                        "503": {"description": "Not ready", "content": json_ok},
                    },
                }
            },
            "/metrics": {
                "get": {
                    "operationId": "metrics",
                    "responses": {
                        "200": {
                            "description": "Prometheus text format",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
            "/version": {
                "get": {
                    "operationId": "version",
                    "responses": {"200": {"description": "Build", "content": json_ok}},
                }
            },
        },
    }


_PROBE = {
    "name": "name",
    "in": "path",
    "required": True,
    "schema": {"enum": ["cache_miss", "origin_fetch", "ratelimit_decision", "auth_failure"]},
}


def _debug_paths() -> dict[str, Any]:
    """Debug probes and tokens (runtime/service/debug_routes.py): admin scope with MFA step-up."""
    json_ok = {"application/json": {"schema": {"type": "object"}}}
    admin = {"security": _BEARER, "parameters": [_MFA]}
    return {
        "/v1/admin/debug/probes": {
            "get": {
                "summary": "Debug probes and their armings (all instances)",
                "operationId": "debug_list_probes",
                **admin,
                "responses": {
                    "200": {"description": "Probes", "content": json_ok},
                    **_errors(401, 403, 429, 503),
                },
            },
            "delete": {
                "summary": "Disarm every debug probe",
                "operationId": "debug_clear_probes",
                **admin,
                "responses": {
                    "200": {"description": "Cleared", "content": json_ok},
                    **_errors(401, 403, 429, 503),
                },
            },
        },
        "/v1/admin/debug/probes/{name}": {
            "put": {
                "summary": "Arm a debug probe: a condition, a hit limit, a TTL and a rate",
                "operationId": "debug_arm_probe",
                "security": _BEARER,
                "parameters": [_PROBE, _MFA],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "additionalProperties": False,
                                "properties": {
                                    "condition": {"type": "string", "maxLength": 500},
                                    "max_hits": {"type": "integer", "minimum": 1, "maximum": 1000},
                                    "ttl_seconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 3600},
                                    "max_per_second": {"type": "integer", "minimum": 1, "maximum": 50},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": {"description": "Armed", "content": json_ok},
                    **_errors(401, 403, 404, 422, 429, 503),
                },
            },
            "delete": {
                "summary": "Disarm a debug probe",
                "operationId": "debug_clear_probe",
                "security": _BEARER,
                "parameters": [_PROBE, _MFA],
                "responses": {
                    "200": {"description": "Cleared", "content": json_ok},
                    **_errors(401, 403, 404, 429, 503),
                },
            },
        },
        "/v1/admin/debug/probes/{name}/snapshots": {
            "get": {
                "summary": "Snapshots a debug probe captured (redacted locals, stack, request and trace ids)",
                "operationId": "debug_snapshots",
                "security": _BEARER,
                "parameters": [_PROBE, _MFA],
                "responses": {
                    "200": {"description": "Snapshots", "content": json_ok},
                    **_errors(401, 403, 404, 429, 503),
                },
            }
        },
        "/v1/admin/debug/token": {
            "post": {
                "summary": "A debug token: requests carrying it in X-StreamGate-Debug get Server-Timing",
                "operationId": "debug_token",
                "security": _BEARER,
                "parameters": [
                    _MFA,
                    {
                        "name": "ttl_seconds",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "number", "minimum": 1, "maximum": 3600},
                    },
                ],
                "responses": {
                    "200": {"description": "Token", "content": json_ok},
                    **_errors(401, 403, 422, 429, 503),
                },
            }
        },
    }
