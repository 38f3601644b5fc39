"""Query plans of the catalog's hot reads, as PostgreSQL executes them: `EXPLAIN (ANALYZE, BUFFERS,
FORMAT JSON)` through the same driver and statement the gateway uses, and the rules a hot plan keeps (the
plan tests and the benchmark read them)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg

# Example arguments of each hot query against the seeded catalog (infra/catalog/seed.py): a title in the
# middle of the list, a common search word, a cursor deep into the list.
EXAMPLES: dict[str, tuple[object, ...]] = {
    "list_titles": ("local-a", "Lantern", "m0012345", 51),
    "search_titles": ("local-a", "storm", "", "", 51),
    "search_two_words": ("local-a", "storm lunar", "", "", 51),
    "title_detail": ("m0012345", "local-a"),
    "segment": ("m0012345", "720p", 7, "local-a"),
    "episodes": ("s0000051", -1, -1, 51),
}
# Row counts above which a sort or an aggregate in a hot plan means it reads far more than it returns.
MAX_ROWS_TOUCHED = 5000
MAX_ROWS_SORTED = 500  # an explicit sort of more than a few pages: the order should come from an index
MAX_BLOCKS = 1000  # buffers a hot query may touch (a page of rows is tens to a few hundred)


@dataclass(frozen=True)
class Plan:
    query: str
    root: dict[str, Any]
    execution_ms: float
    planning_ms: float

    def nodes(self) -> Iterator[dict[str, Any]]:
        stack = [self.root]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(node.get("Plans", ()))

    @property
    def shared_blocks(self) -> int:
        """Buffers read or hit by the whole plan (BUFFERS)."""
        return int(self.root.get("Shared Hit Blocks", 0)) + int(self.root.get("Shared Read Blocks", 0))

    def problems(self) -> list[str]:
        """Why this plan is not a hot-path plan: sequential scans, and nodes handling more rows than any
        page needs (a large OFFSET, an unindexed sort, a scan filtering most of what it reads)."""
        found = []
        for node in self.nodes():
            kind = node["Node Type"]
            relation = node.get("Relation Name", "")
            rows = float(node.get("Actual Rows", 0)) * float(node.get("Actual Loops", 1))
            removed = float(node.get("Rows Removed by Filter", 0)) * float(node.get("Actual Loops", 1))
            if kind == "Seq Scan":
                found.append(f"sequential scan on {relation}")
            if kind in ("Sort", "Incremental Sort"):
                sorted_rows = sum(float(c.get("Actual Rows", 0)) for c in node.get("Plans", ()))
                if sorted_rows > MAX_ROWS_SORTED:
                    found.append(f"sort of {sorted_rows:.0f} rows (no index gives this order)")
            if kind in ("Sort", "Limit", "Aggregate", "Hash") and rows > MAX_ROWS_TOUCHED:
                found.append(f"{kind} over {rows:.0f} rows")
            if removed > MAX_ROWS_TOUCHED:
                found.append(f"{kind} on {relation or '?'} filtered out {removed:.0f} rows")
        if self.shared_blocks > MAX_BLOCKS:
            found.append(f"{self.shared_blocks} buffers touched (more than {MAX_BLOCKS})")
        return found

    def indexes(self) -> set[str]:
        return {node["Index Name"] for node in self.nodes() if "Index Name" in node}


async def explain(conn: asyncpg.Connection, name: str, query: str, *args: object) -> Plan:
    text = await conn.fetchval("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + query, *args)
    document = json.loads(text)[0]
    return Plan(name, document["Plan"], float(document["Execution Time"]), float(document["Planning Time"]))
