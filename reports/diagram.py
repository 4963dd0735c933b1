"""A genotype as a stage diagram: encoder down the left, decoder up the right, skips across.

``_get_diagram_data`` places every block (from ``Genotype.slots()``) on a grid; ``render_svg``
draws it as a small standalone SVG (no JavaScript, opens from file://).
"""

from __future__ import annotations

from html import escape
from typing import NamedTuple

from searchspace import Genotype

BOX_W, BOX_H, ROW_H = 170, 40, 58
COL_X = (20, 235, 450)
TOP = 50


class _Box(NamedTuple):
    role: str  # stem, encoder, bottleneck, decoder, head
    index: int
    block: str
    in_channels: int
    out_channels: int
    column: int  # 0 encoder side, 1 middle, 2 decoder side
    level: int  # 0 = full resolution stage; -1 = stem / head row


class _DiagramData(NamedTuple):
    boxes: list[_Box]
    flow: list[tuple[int, int]]  # consecutive boxes (indices) along the data path
    skips: list[tuple[int, int]]  # (encoder box, decoder box) joined by a skip
    caption: str


def _get_diagram_data(g: Genotype) -> _DiagramData:
    d = g.depth
    boxes: list[_Box] = []
    for s in g.slots():
        if s.role == "stem":
            column, level = 0, -1
        elif s.role == "encoder":
            column, level = 0, s.index
        elif s.role == "bottleneck":
            column, level = 1, d
        else:
            column = 2
            level = d - 2 - s.index if g.layout == "malunet" else d - 1 - s.index
        boxes.append(_Box(s.role, s.index, s.block, s.in_channels, s.out_channels, column, level))
    last = boxes[-1]
    boxes.append(_Box("head", 0, "1x1 conv head", last.out_channels, g.out_channels, 2, -1))
    flow = [(i, i + 1) for i in range(len(boxes) - 1)]
    by_level = {b.level: i for i, b in enumerate(boxes) if b.role == "encoder"}
    skips = [
        (by_level[b.level], i)
        for i, b in enumerate(boxes)
        if b.role == "decoder" and b.level in by_level
    ]
    extras = [f"layout {g.layout}", f"up-sampling {g.upsample}", f"norm {g.norm}", f"act {g.act}"]
    if g.bridge != "none":
        extras.append(f"skip bridge {g.bridge}")
    if g.uses_attention():
        extras.append(f"attention {g.attention}")
    if g.uses_compression():
        extras.append(f"ECDF N={g.compression}")
    if g.deep_supervision:
        extras.append("deep supervision")
    return _DiagramData(boxes, flow, skips, ", ".join(extras))


def _xy(b: _Box) -> tuple[int, int]:
    return COL_X[b.column], TOP + (b.level + 1) * ROW_H


def render_svg(data: _DiagramData) -> str:
    colours = {"stem": "#fde4c8", "encoder": "#d6e6f5", "bottleneck": "#e3d6f2",
               "decoder": "#d9f0d3", "head": "#eeeeee"}  # fmt: skip
    max_level = max(b.level for b in data.boxes)
    height = TOP + (max_level + 2) * ROW_H + 10
    width = COL_X[2] + BOX_W + 20
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>',
        f'<text x="10" y="20" font-size="12" fill="#333">{escape(data.caption)}</text>',
    ]
    for a, b in data.skips:
        (xa, ya), (xb, yb) = _xy(data.boxes[a]), _xy(data.boxes[b])
        parts.append(
            f'<line x1="{xa + BOX_W}" y1="{ya + BOX_H / 2}" x2="{xb}" y2="{yb + BOX_H / 2}" '
            'stroke="#888" stroke-dasharray="5,4" marker-end="url(#arrow)"/>'
        )
    for a, b in data.flow:
        (xa, ya), (xb, yb) = _xy(data.boxes[a]), _xy(data.boxes[b])
        if xa == xb:  # same column: vertical arrow between the boxes
            y1, y2 = (ya + BOX_H, yb) if yb > ya else (ya, yb + BOX_H)
            x1 = x2 = xa + BOX_W / 2
        else:
            x1, y1 = xa + (BOX_W if xb > xa else 0), ya + BOX_H / 2
            x2, y2 = xb + (0 if xb > xa else BOX_W), yb + BOX_H / 2
        parts.append(
            f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="#555" '
            'stroke-width="1.5" marker-end="url(#arrow)"/>'
        )
    for b in data.boxes:
        x, y = _xy(b)
        title = b.role if b.role in ("stem", "bottleneck", "head") else f"{b.role} {b.index + 1}"
        parts.append(
            f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="6" '
            f'fill="{colours[b.role]}" stroke="#555"/>'
            f'<text x="{x + BOX_W / 2}" y="{y + 16}" text-anchor="middle" font-weight="bold">'
            f"{escape(b.block)}</text>"
            f'<text x="{x + BOX_W / 2}" y="{y + 31}" text-anchor="middle" fill="#444">'
            f"{escape(title)}: {b.in_channels} → {b.out_channels} ch</text>"
        )
    parts.append("</svg>")
    return "\n".join(parts)
