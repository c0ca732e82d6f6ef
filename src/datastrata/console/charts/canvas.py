"""An SVG drawing: shapes and text in user units, escaped, rendered as one ``<svg class="chart">`` element."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

#: The console's series colours, in order (colour-blind safe, after Okabe and Ito).
PALETTE = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000")


def _attrs(values: dict[str, object]) -> str:
    return "".join(
        f' {name.rstrip("_").replace("_", "-")}="{escape(str(v))}"' for name, v in values.items() if v is not None
    )


class Canvas:
    """An SVG of `width` by `height` user units that shapes are added to in order (later on top)."""

    def __init__(self, width: float, height: float, *, label: str) -> None:
        self.width = width
        self.height = height
        self.label = label
        self._parts: list[str] = []

    def rect(
        self, x: float, y: float, w: float, h: float, *, fill: str, title: str | None = None, **attrs: object
    ) -> None:
        """A rectangle (with a hover title when given)."""
        self._shape(
            "rect", dict(x=_n(x), y=_n(y), width=_n(max(w, 0)), height=_n(max(h, 0)), fill=fill, **attrs), title
        )

    def line(self, x1: float, y1: float, x2: float, y2: float, *, stroke: str = "#9aa3b5", **attrs: object) -> None:
        """A straight line."""
        self._shape("line", dict(x1=_n(x1), y1=_n(y1), x2=_n(x2), y2=_n(y2), stroke=stroke, **attrs), None)

    def polyline(
        self, points: Sequence[tuple[float, float]], *, stroke: str, width: float = 2, **attrs: object
    ) -> None:
        """A line through `points`."""
        joined = " ".join(f"{_n(x)},{_n(y)}" for x, y in points)
        self._shape("polyline", dict(points=joined, fill="none", stroke=stroke, stroke_width=_n(width), **attrs), None)

    def circle(self, x: float, y: float, r: float, *, fill: str, title: str | None = None, **attrs: object) -> None:
        """A circle (with a hover title when given)."""
        self._shape("circle", dict(cx=_n(x), cy=_n(y), r=_n(r), fill=fill, **attrs), title)

    def text(self, x: float, y: float, content: str, *, anchor: str = "start", **attrs: object) -> None:
        """Text at (x, y): its baseline, aligned by `anchor` (start, middle, end)."""
        self._parts.append(
            f"<text{_attrs(dict(x=_n(x), y=_n(y), text_anchor=anchor, **attrs))}>{escape(content)}</text>"
        )

    def _shape(self, tag: str, attrs: dict[str, object], title: str | None) -> None:
        if title is None:
            self._parts.append(f"<{tag}{_attrs(attrs)}/>")
        else:
            self._parts.append(f"<{tag}{_attrs(attrs)}><title>{escape(title)}</title></{tag}>")

    def render(self) -> Markup:
        """The drawing as markup a template can place as is (every text in it is escaped)."""
        head = (
            f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_n(self.width)} {_n(self.height)}" '
            f'width="{_n(self.width)}" height="{_n(self.height)}" role="img" aria-label="{escape(self.label)}">'
        )
        return Markup(head + f"<title>{escape(self.label)}</title>" + "".join(self._parts) + "</svg>")


def _n(value: float) -> str:
    """A coordinate with at most two decimals (SVG files stay small)."""
    return f"{value:.2f}".rstrip("0").rstrip(".") or "0"
