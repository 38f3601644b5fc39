"""One pull-request comment per stack, created once and then edited on every push.

A hidden marker (`<!-- streamgate-plan:STACK -->`) identifies the comment. Uses the documented REST
endpoints only: list issue comments (paginated by the `Link` header), create an issue comment, update an
issue comment (https://docs.github.com/en/rest/issues/comments).

Usage in a workflow (GITHUB_TOKEN with `pull-requests: write`; GITHUB_REPOSITORY and GITHUB_API_URL are
set by Actions):
    python -m infra.ci.comment --pr 42 --key prod --body-file plan/prod.md
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_BODY = 65_536  # GitHub refuses a longer comment body
API_VERSION = "2022-11-28"
_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')


class CommentError(Exception):
    """The API refused or could not be reached: the message says which call and why."""


def marker(key: str) -> str:
    return f"<!-- streamgate-plan:{key} -->"


@dataclass
class GitHub:
    """The few calls the comment needs, over urllib (no extra dependency in CI)."""

    api: str
    repo: str  # owner/name
    token: str
    timeout: float = 30.0

    def _call(self, method: str, url: str, body: dict[str, Any] | None = None) -> tuple[Any, str | None]:
        request = urllib.request.Request(
            url if url.startswith(("http://", "https://")) else self.api.rstrip("/") + url,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={
                "Accept": "application/vnd.github+json",
                "Authorization": f"Bearer {self.token}",
                "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": "streamgate-ci",
                **({"Content-Type": "application/json"} if body is not None else {}),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                link = response.headers.get("Link")
                return json.loads(response.read() or b"null"), link
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:300]
            raise CommentError(f"{method} {request.full_url}: HTTP {exc.code}: {detail}") from None
        except (OSError, ValueError) as exc:
            raise CommentError(f"{method} {request.full_url}: {exc}") from None

    def comments(self, number: int) -> list[dict[str, Any]]:
        url: str | None = f"/repos/{self.repo}/issues/{number}/comments?per_page=100"
        found: list[dict[str, Any]] = []
        while url:
            page, link = self._call("GET", url)
            found.extend(page)
            match = _NEXT.search(link or "")
            url = match.group(1) if match else None
            if url and not url.startswith(self.api.rstrip("/") + "/"):  # the token goes to the API only
                raise CommentError(f"the next page is not on {self.api}: {url}")
        return found

    def create(self, number: int, body: str) -> dict[str, Any]:
        created, _ = self._call("POST", f"/repos/{self.repo}/issues/{number}/comments", {"body": body})
        return dict(created)

    def update(self, comment_id: int, body: str) -> dict[str, Any]:
        updated, _ = self._call("PATCH", f"/repos/{self.repo}/issues/comments/{comment_id}", {"body": body})
        return dict(updated)


def upsert(github: GitHub, number: int, key: str, text: str) -> tuple[str, dict[str, Any]]:
    """Edit the comment carrying `key`'s marker, or create it: ("updated" | "created", the comment)."""
    tag = marker(key)
    body = f"{tag}\n{text}"
    if len(body) > MAX_BODY:  # the renderer keeps under the limit; this guards any other file
        cut = "\n\n> Cut to GitHub's comment limit.\n"
        body = body[: MAX_BODY - len(cut)] + cut
    mine = next((c for c in github.comments(number) if tag in (c.get("body") or "")), None)
    if mine is None:
        return "created", github.create(number, body)
    return "updated", github.update(int(mine["id"]), body)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pr", type=int, required=True, help="pull request number")
    parser.add_argument("--key", required=True, help="what the comment is about (the stack)")
    parser.add_argument("--body-file", type=Path, required=True)
    parser.add_argument("--repo", default=os.environ.get("GITHUB_REPOSITORY"), help="owner/name")
    parser.add_argument("--api", default=os.environ.get("GITHUB_API_URL", "https://api.github.com"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    token = os.environ.get("GITHUB_TOKEN")
    if not token or not args.repo:
        print("error: set GITHUB_TOKEN and GITHUB_REPOSITORY (or --repo owner/name)", file=sys.stderr)
        return 2
    try:
        text = args.body_file.read_text()
    except OSError as exc:
        print(f"error: {args.body_file}: {exc}", file=sys.stderr)
        return 2
    try:
        action, comment = upsert(GitHub(args.api, args.repo, token), args.pr, args.key, text)
    except CommentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{action} comment {comment.get('html_url') or comment.get('id')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
