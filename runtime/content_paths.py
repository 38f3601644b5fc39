"""The public URL scheme of content, as patterns: the gateway resolves paths with them
(runtime/service/content.py), and the local edge's cache rules, CloudFront's cache behaviors and the WAF
are derived from them. Plain strings, importable without loading the gateway.

Per title `id`: `master.m3u8`, `<rendition>/index.m3u8`, `<rendition>/<n>.ts`, `<rendition>/<n>.m4s`,
`<rendition>/init.mp4`; the first scheme's `manifest` and `segments/<n>` keep working."""

from __future__ import annotations

CONTENT_ID = r"[A-Za-z0-9_-]{1,128}"
RENDITION = r"[A-Za-z0-9_-]{1,32}"
SEGMENT_NUMBER = r"0|[1-9][0-9]{0,7}"  # no leading zeros: one path per segment

# One object of a title, with named groups (the gateway reads them).
PATH = (
    rf"^/v1/content/(?P<id>{CONTENT_ID})/(?:"
    r"(?P<master>master\.m3u8)|(?P<manifest>manifest)|segments/(?P<legacy>[0-9]{1,9})"
    rf"|(?P<rendition>{RENDITION})/(?:(?P<index>index\.m3u8)|(?P<init>init\.mp4)"
    rf"|(?P<n>{SEGMENT_NUMBER})\.(?P<ext>ts|m4s)))$"
)
# Every path the content API answers (objects, and a title's rendition-set upload), for the WAF.
API_PATH = (
    rf"^/v1/content/{CONTENT_ID}/(?:master\.m3u8|manifest|segments/[0-9]{{1,9}}|renditions"
    rf"|{RENDITION}/(?:index\.m3u8|init\.mp4|(?:{SEGMENT_NUMBER})\.(?:ts|m4s)))$"
)

# Cache classes at an edge (nginx location regexes): immutable segments, short-lived playlists.
EDGE_SEGMENTS = r"^/v1/content/[^/]+/(?:segments/|[^/]+/(?:[0-9]+\.(?:ts|m4s)|init\.mp4)$)"
EDGE_PLAYLISTS = r"^/v1/content/[^/]+/(?:manifest|master\.m3u8|[^/]+/index\.m3u8)$"
# The same classes as CloudFront path patterns (`*` matches any characters, `/` included).
CDN_SEGMENTS = ("/v1/content/*/segments/*", "/v1/content/*.ts", "/v1/content/*.m4s", "/v1/content/*/init.mp4")
CDN_PLAYLISTS = ("/v1/content/*/manifest", "/v1/content/*.m3u8")
