"""The markdown of a diff, as a pull-request comment shows it: counts first, details per component, policy
verdicts, escaped values, and a hard bound under GitHub's 65,536 characters for any diff size."""

from __future__ import annotations

import copy
import re

from infra.preview import markdown
from infra.preview.diff import diff_documents
from tests.infra.preview_support import shipped_document


def test_a_huge_diff_is_cut_under_the_limit_with_a_note_naming_the_artifact() -> None:
    """Every string input of prod changed and three times longer, plus prod against nothing: far more than
    a comment holds."""
    base = shipped_document("prod")
    head = copy.deepcopy(base)

    def lengthen(value: object) -> object:
        if isinstance(value, str) and value != "[secret]":
            return value * 3 + "|<b>"
        if isinstance(value, dict):
            return {k: lengthen(v) for k, v in value.items()}
        if isinstance(value, list):
            return [lengthen(v) for v in value]
        return value

    for r in head["resources"]:
        r["inputs"] = lengthen(r["inputs"])
    d = diff_documents("prod", base, head, "main (0123abcd)", "head")
    total = len(d.changes)
    assert total > 250
    full = markdown.render(d, "the artifact plan-prod (plan/prod.json)", limit=10**9)
    assert len(full) > 65_536  # the case the bound exists for

    text = markdown.render(d, "the artifact plan-prod (plan/prod.json)")
    assert len(text) <= markdown.LIMIT < 65_536
    first = text.splitlines()[0]
    assert first == markdown.counts_line(d) and re.search(r"\d+ to update", first)
    assert text.count("<details>") == text.count("</details>") > 0
    note = re.search(r"\*\*Truncated\*\* to fit a comment: (\d+) of (\d+) resource changes not shown", text)
    assert note and int(note.group(2)) == total and 0 < int(note.group(1)) < total
    shown = len(re.findall(r"^\*\*(\+|~|\+-|-) (create|update|replace|delete)\*\*", text, re.M))
    assert shown + int(note.group(1)) == total
    assert "the full diff is in the artifact plan-prod (plan/prod.json)" in text
    assert "#### Policies" in text  # the verdicts survive the cut
    # Values are escaped for a table cell: no raw pipe or tag from the data reaches the markdown.
    assert "|<b>" not in text and "&#124;&lt;b&gt;" in text


def test_each_stack_of_several_shares_the_bound() -> None:
    base = shipped_document("prod")
    d = diff_documents("prod", {"resources": [], "policy": {"passed": True}}, base, "nothing", "head")
    assert d.count("create") == sum(1 for r in base["resources"] if r["custom"])
    text = markdown.render(d, limit=5_000)
    assert len(text) <= 5_000 and "run `streamgate plan` with `--format json`" in text


def test_an_empty_diff_says_so_in_one_line() -> None:
    doc = shipped_document("dev")
    text = markdown.render(diff_documents("dev", doc, doc, "HEAD~1 (0123)", "working tree"))
    assert text.splitlines()[0] == "**`dev`**: no changes · policies: passed"
    assert "<details>" not in text and "Truncated" not in text
