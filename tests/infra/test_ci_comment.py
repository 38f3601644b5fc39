"""The preview workflow's pull-request comment: one per stack, created once and then edited, found by its
hidden marker across pages of comments; against a local stand-in of GitHub's documented endpoints."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.ci import comment
from infra.ci.comment import CommentError, GitHub, marker, upsert
from tests.infra.github_api import FakeGitHub, fake_github

REPO = "streamgate/platform"


@pytest.fixture
def api() -> Iterator[FakeGitHub]:
    with fake_github() as server:
        yield server


def client(api: FakeGitHub, token: str | None = None) -> GitHub:
    return GitHub(api.url, REPO, token or api.token)


def test_created_once_then_edited_per_stack(api: FakeGitHub) -> None:
    api.add(REPO, 7, "LGTM, but what does this do to prod?")
    github = client(api)
    assert upsert(github, 7, "prod", "**`prod`**: 1 to update")[0] == "created"
    assert upsert(github, 7, "dev", "**`dev`**: no changes")[0] == "created"
    action, edited = upsert(github, 7, "prod", "**`prod`**: 2 to update")
    assert action == "updated"

    comments = api.comments[(REPO, 7)]
    assert [c["body"] for c in comments] == [
        "LGTM, but what does this do to prod?",
        f"{marker('prod')}\n**`prod`**: 2 to update",
        f"{marker('dev')}\n**`dev`**: no changes",
    ]
    assert edited["id"] == comments[1]["id"]
    posts = [path for method, path in api.requests if method == "POST"]
    patches = [path for method, path in api.requests if method == "PATCH"]
    assert posts == [f"/repos/{REPO}/issues/7/comments"] * 2
    assert patches == [f"/repos/{REPO}/issues/comments/{comments[1]['id']}"]
    assert marker("prod") == "<!-- streamgate-plan:prod -->"  # an HTML comment: hidden when rendered


def test_the_marker_is_found_on_a_later_page(api: FakeGitHub) -> None:
    for i in range(150):
        api.add(REPO, 9, f"review comment {i}")
    mine = api.add(REPO, 9, f"{marker('staging')}\nold plan", "github-actions[bot]")
    action, edited = upsert(client(api), 9, "staging", "new plan")
    assert (action, edited["id"]) == ("updated", mine["id"])
    assert len(api.comments[(REPO, 9)]) == 151
    pages = [path for method, path in api.requests if method == "GET"]
    assert len(pages) == 2 and pages[1].endswith("page=2")


def test_an_oversized_body_is_cut_to_what_github_accepts(api: FakeGitHub) -> None:
    action, created = upsert(client(api), 3, "prod", "x" * 100_000)
    assert action == "created"
    assert len(created["body"]) <= comment.MAX_BODY
    assert created["body"].startswith(marker("prod")) and created["body"].endswith("comment limit.\n")


def test_refused_calls_are_one_clear_error(api: FakeGitHub) -> None:
    with pytest.raises(
        CommentError, match=r"GET .*/issues/5/comments\?per_page=100: HTTP 401: .*Bad credentials"
    ):
        upsert(client(api, token="wrong"), 5, "prod", "body")


def test_a_next_page_off_the_api_host_is_refused(api: FakeGitHub) -> None:
    for i in range(101):
        api.add(REPO, 4, f"c{i}")
    github = GitHub(api.url.replace("127.0.0.1", "localhost"), REPO, api.token)  # links name 127.0.0.1
    with pytest.raises(CommentError, match="the next page is not on"):
        upsert(github, 4, "prod", "body")


def test_the_command_line_as_the_workflow_calls_it(
    api: FakeGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    body = tmp_path / "prod.md"
    body.write_text("**`prod`**: no changes · policies: passed\n")
    monkeypatch.setenv("GITHUB_TOKEN", api.token)
    monkeypatch.setenv("GITHUB_REPOSITORY", REPO)
    monkeypatch.setenv("GITHUB_API_URL", api.url)
    args = ["--pr", "12", "--key", "prod", "--body-file", str(body)]
    assert comment.main(args) == 0
    assert comment.main(args) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("created comment https://") and out[1].startswith("updated comment https://")
    assert len(api.comments[(REPO, 12)]) == 1

    monkeypatch.setenv("GITHUB_TOKEN", "expired")
    assert comment.main(args) == 1
    assert "HTTP 401" in capsys.readouterr().err
    monkeypatch.delenv("GITHUB_TOKEN")
    assert comment.main(args) == 2
    monkeypatch.setenv("GITHUB_TOKEN", api.token)
    assert comment.main(["--pr", "12", "--key", "prod", "--body-file", str(tmp_path / "missing.md")]) == 2
