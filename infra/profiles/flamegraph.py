"""Flame graphs of profiles and of their differences, as SVG (standalone) or HTML (the SVG and a table),
and the per-function tables the terminal shows.

A graph is drawn top-down (the root on top, callees below, widths = share of samples), as an icicle.
A diff is drawn over the union of both profiles' stacks, each frame's width its share in the *target*
profile, its colour the change of its share against the *base*: red where the target spends more, blue
where it spends less, grey where nothing changed; frames only the base has are kept at their base width,
so a removed code path still shows. Shares, not absolute values: the two sides ran for different times
and under different load."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

from infra.profiles.pprof import Profile

WIDTH = 1200
ROW = 17
MIN_PX = 0.3  # narrower frames are not drawn
FONT_PX = 7.0  # width of one character at 12 px monospace, for label truncation


@dataclass
class Node:
    name: str
    value: float = 0.0  # share of the profile (0..1) in this frame and below
    base: float = 0.0  # the same in the base profile (diffs)
    children: dict[str, Node] = field(default_factory=dict)

    def child(self, name: str) -> Node:
        node = self.children.get(name)
        if node is None:
            node = self.children[name] = Node(name)
        return node


def tree(profile: Profile, base: Profile | None = None) -> Node:
    """The call tree with shares; with `base`, each node also carries its share there."""
    root = Node("all")
    for which, p in (("value", profile), ("base", base)):
        if p is None or p.total <= 0:
            continue
        total = p.total
        for stack, value in p.stacks.items():
            share = value / total
            node = root
            setattr(node, which, getattr(node, which) + share)
            for name in stack:
                node = node.child(name)
                setattr(node, which, getattr(node, which) + share)
    return root


@dataclass(frozen=True)
class FunctionShare:
    name: str
    self_share: float  # samples with this function at the leaf
    total_share: float  # samples with this function anywhere on the stack (once per stack)


def functions(profile: Profile) -> dict[str, FunctionShare]:
    total = profile.total or 1
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for stack, value in profile.stacks.items():
        if stack:
            own[stack[-1]] += value
        for name in set(stack):
            inclusive[name] += value
    return {n: FunctionShare(n, own[n] / total, inclusive[n] / total) for n in inclusive}


@dataclass(frozen=True)
class FunctionChange:
    name: str
    base_total: float
    target_total: float
    base_self: float
    target_self: float

    @property
    def delta_total(self) -> float:
        return self.target_total - self.base_total

    @property
    def delta_self(self) -> float:
        return self.target_self - self.base_self

    def to_json(self) -> dict[str, object]:
        return {
            "function": self.name,
            "base_total_share": round(self.base_total, 5),
            "target_total_share": round(self.target_total, 5),
            "delta_total_share": round(self.delta_total, 5),
            "base_self_share": round(self.base_self, 5),
            "target_self_share": round(self.target_self, 5),
            "delta_self_share": round(self.delta_self, 5),
        }


def changes(base: Profile, target: Profile) -> list[FunctionChange]:
    """Every function of either profile, largest growth of its self share first (where the added CPU is
    spent), then of its inclusive share."""
    b, t = functions(base), functions(target)
    zero = FunctionShare("", 0.0, 0.0)
    out = [
        FunctionChange(
            n,
            b.get(n, zero).total_share,
            t.get(n, zero).total_share,
            b.get(n, zero).self_share,
            t.get(n, zero).self_share,
        )
        for n in set(b) | set(t)
    ]
    return sorted(out, key=lambda c: (-c.delta_self, -c.delta_total, c.name))


# -- drawing -----------------------------------------------------------------------------------------------
def _hue(name: str) -> str:
    """A stable warm colour per function (the classic flame graph palette)."""
    h = hashlib.blake2b(name.encode(), digest_size=3).digest()
    return f"rgb({205 + h[0] % 50},{80 + h[1] % 120},{h[2] % 55})"


def _diff_colour(delta: float, scale: float) -> str:
    if scale <= 0 or abs(delta) < scale * 0.02:
        return "rgb(220,220,220)"
    strength = min(1.0, abs(delta) / scale)
    fade = int(220 - 180 * strength)
    return f"rgb(240,{fade},{fade})" if delta > 0 else f"rgb({fade},{fade},240)"


def _percent(share: float) -> str:
    return f"{share * 100:.2f}%"


def svg(root: Node, title: str, *, diff: bool = False) -> str:
    """The graph as one standalone SVG document (tooltips on every frame)."""
    rows: list[str] = []
    depth_max = 0
    scale = max((abs(n.value - n.base) for n in _walk(root)), default=0.0) if diff else 0.0

    def weight(node: Node) -> float:
        # in a diff a frame is as wide as its larger share, so a path only the base has stays visible
        return max(node.value, node.base) if diff else node.value

    def draw(node: Node, x: float, width: float, depth: int) -> None:
        nonlocal depth_max
        if width < MIN_PX:
            return
        depth_max = max(depth_max, depth)
        y = depth * ROW + 30
        if diff:
            colour = _diff_colour(node.value - node.base, scale)
            tip = f"{node.name}: {_percent(node.base)} → {_percent(node.value)} ({(node.value - node.base) * 100:+.2f} pts)"
        else:
            colour = _hue(node.name)
            tip = f"{node.name}: {_percent(node.value)}"
        chars = int((width - 6) / FONT_PX)
        label = node.name if len(node.name) <= chars else (node.name[: chars - 2] + ".." if chars > 3 else "")
        rows.append(
            f'<g><title>{escape(tip)}</title><rect x="{x:.2f}" y="{y}" width="{width:.2f}" height="{ROW - 1}" '
            f'fill="{colour}" rx="2"/>'
            + (f'<text x="{x + 3:.2f}" y="{y + 12}">{escape(label)}</text>' if label else "")
            + "</g>"
        )
        children = sorted(node.children.values(), key=lambda c: c.name)
        # Children share the parent's width by weight; in a diff their larger shares may add up to more
        # than the parent's, and are scaled down to fit.
        per_unit = width / max(weight(node), sum(weight(c) for c in children), 1e-12)
        child_x = x
        for child in children:
            draw(child, child_x, weight(child) * per_unit, depth + 1)
            child_x += weight(child) * per_unit

    draw(root, 0.0, float(WIDTH), 0)
    height = (depth_max + 1) * ROW + 40
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="monospace" font-size="12">'
        f'<text x="4" y="18" font-size="14">{escape(title)}</text>' + "".join(rows) + "</svg>\n"
    )


def _walk(node: Node) -> list[Node]:
    out, todo = [], [node]
    while todo:
        n = todo.pop()
        out.append(n)
        todo.extend(n.children.values())
    return out


def html(graph_svg: str, title: str, table: Sequence[tuple[str, ...]], header: tuple[str, ...]) -> str:
    """A page with the graph and a table (top functions, or their changes)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in table)
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>body{{font-family:sans-serif}}"
        "table{border-collapse:collapse}td,th{padding:2px 8px;border-bottom:1px solid #ddd;"
        "font-family:monospace;text-align:right}td:first-child{text-align:left}</style></head><body>"
        f"<h1>{escape(title)}</h1>{graph_svg}<table><tr>{head}</tr>{body}</table></body></html>\n"
    )
