"""Report building blocks, rendered both as Markdown and as standalone HTML.

Sections describe their part of a report as a list of blocks; :func:`to_markdown` and
:func:`to_html` render the same list, so the two formats never drift apart.

Text in blocks may come from files other people made (CSV cells, model names), so both renderers
treat it as text with a little inline markup (`code`, **bold**, [links](#anchor)): the HTML
renderer escapes it, and the Markdown renderer escapes raw HTML (``<`` and entity-like ``&``),
images (``![...](...)``) and links whose target is not an anchor, http(s) or a relative path,
the same rule the HTML renderer applies.

Example:
    >>> import pandas as pd
    >>> blocks = [Heading(2, "Metrics"), Paragraph("Two rows."), Table(pd.DataFrame({"a": [1.0, 2.5]}))]
    >>> print(to_markdown(blocks))
    ## Metrics
    <BLANKLINE>
    Two rows.
    <BLANKLINE>
    | a |
    |---|
    | 1 |
    | 2.5 |
    <BLANKLINE>
"""

from __future__ import annotations

import html
import math
import numbers
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Heading:
    level: int
    text: str
    anchor: str | None = None


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Table:
    df: pd.DataFrame
    caption: str | None = None
    id: str | None = None  # HTML id of the table (e.g. "claims"), for links and tests


@dataclass(frozen=True)
class Figure:
    path: str  # relative to the run folder, e.g. "figures/metrics_fs_resnet18.png"
    caption: str


Block = Heading | Paragraph | Table | Figure


def fmt(x: object) -> str:
    """Format a table cell: 4 significant digits for floats, plain text otherwise."""
    if isinstance(x, float):
        if math.isnan(x):
            return ""
        if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e6):
            return f"{x:.3e}"
        return f"{x:.4g}"
    return str(x)


def slug(text: str) -> str:
    """GitHub-style heading anchor."""
    return re.sub(r"[^a-z0-9 -]", "", text.lower()).strip().replace(" ", "-")


_MD_LINK = re.compile(r"\[([^\]]*)\]\(([^)\s]*)\)")
_ENTITY = re.compile(r"&(?=#?[A-Za-z0-9]+;)")


def _md_text(text: str) -> str:
    """Text for Markdown: no raw HTML, no images, links only to safe targets (see the module docstring).

    Example:
        >>> print(_md_text('<script>x</script> ![i](http://e/x.png) [a](javascript:y) [b](#claims)'))
        &lt;script>x&lt;/script> !\\[i](http://e/x.png) \\[a\\](javascript:y) [b](#claims)
    """
    t = _ENTITY.sub("&amp;", str(text)).replace("<", "&lt;")
    t = t.replace("![", "!\\[")

    def link(m: re.Match) -> str:
        return m.group(0) if _SAFE_URL.match(m.group(2)) else f"\\[{m.group(1)}\\]({m.group(2)})"

    return _MD_LINK.sub(link, t)


def _md_cell(x: object) -> str:
    return _md_text(_BADGE.sub(r"**\1**", fmt(x))).replace("|", "\\|").replace("\n", " ")


def to_markdown(blocks: list[Block]) -> str:
    """Render blocks as GitHub-flavoured Markdown."""
    out: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            if b.anchor and b.anchor != slug(b.text):  # links like [x](#metrics) also work on GitHub
                out.append(f'<a id="{html.escape(b.anchor)}"></a>\n')
            out.append(f"{'#' * b.level} {_md_text(b.text)}\n")
        elif isinstance(b, Paragraph):
            out.append(_md_text(_BADGE.sub(r"**\1**", b.text)) + "\n")
        elif isinstance(b, Table):
            if b.caption:
                out.append(f"*{_md_text(b.caption)}*\n")
            cols = [_md_cell(c) for c in b.df.columns]
            lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
            lines += ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in b.df.itertuples(index=False)]
            out.append("\n".join(lines) + "\n")
        elif isinstance(b, Figure):
            cap = _md_text(b.caption).replace("[", "\\[").replace("]", "\\]")
            out.append(f"![{cap}]({b.path})\n\n*{_md_text(b.caption)}*\n")
    return "\n".join(out)


_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:0.9em}.tw{overflow-x:auto;max-width:100%}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top;overflow-wrap:anywhere}
td.num{text-align:right;white-space:nowrap}th{background:#f3f3f3}img{max-width:100%}figcaption{color:#555}
caption{text-align:left;color:#444;padding:2px 0}
code{background:#f3f3f3;padding:0 3px;overflow-wrap:anywhere}
.verdict{display:inline-block;padding:1px 8px;border-radius:9px;font-weight:600;white-space:nowrap;color:#fff}
.verdict-supported{background:#1a7f37}.verdict-refuted{background:#cf222e}.verdict-inconclusive{background:#9a6700}
.verdict-not-measured{background:#6e7781}
table#claims{width:100%}table#claims td:nth-child(1){width:30%}table#claims td:nth-child(3){width:40%}"""

#: ``[[verdict:supported]]`` in a cell or paragraph renders as a coloured badge (bold text in Markdown)
_BADGE = re.compile(r"\[\[verdict:([a-z ]+)\]\]")


def badge(verdict: str) -> str:
    """The markup of a verdict badge (see :data:`_BADGE`).

    Example:
        >>> _inline(badge("refuted"))
        '<span class="verdict verdict-refuted">refuted</span>'
    """
    return f"[[verdict:{verdict}]]"


def _inline(text: str) -> str:
    """Escape text, then render `code`, **bold** and [links](url) as HTML."""
    t = html.escape(text, quote=False)
    t = _BADGE.sub(lambda m: f'<span class="verdict verdict-{m.group(1).replace(" ", "-")}">{m.group(1)}</span>', t)
    t = re.sub(r"`([^`]+)`", r"<code>\1</code>", t)
    t = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", t)
    return re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", _link, t)


_SAFE_URL = re.compile(r"^(#|https?://|[A-Za-z0-9_.\-/]+(#[A-Za-z0-9_\-]*)?$)")


def _link(m: re.Match) -> str:
    """An <a> for [text](url) when url is an anchor, http(s) or a relative path; else plain text."""
    text, url = m.group(1), m.group(2)  # both already HTML-escaped (quote=False)
    if not _SAFE_URL.match(url):
        return m.group(0)
    return f'<a href="{url.replace(chr(34), "&quot;")}">{text}</a>'



def _num_class(v: object) -> str:
    """Numbers are right-aligned (class ``num``); text is left-aligned."""
    return ' class="num"' if isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) else ""


def to_html(blocks: list[Block], title: str) -> str:
    """Render blocks as one standalone HTML page (figures linked by relative path)."""
    body: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            anchor = b.anchor or slug(b.text)
            body.append(f'<h{b.level} id="{html.escape(anchor)}">{_inline(b.text)}</h{b.level}>')
        elif isinstance(b, Paragraph):
            body.append(f"<p>{_inline(b.text)}</p>")
        elif isinstance(b, Table):
            head = "".join(f"<th>{html.escape(str(c))}</th>" for c in b.df.columns)
            rows = "".join(
                "<tr>" + "".join(f"<td{_num_class(v)}>{_inline(fmt(v))}</td>" for v in row) + "</tr>"
                for row in b.df.itertuples(index=False)
            )
            cap = f"<caption>{_inline(b.caption)}</caption>" if b.caption else ""
            tid = f' id="{html.escape(b.id)}"' if b.id else ""
            body.append(f'<div class="tw"><table{tid}>{cap}<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'
                        "</div>")
        elif isinstance(b, Figure):
            body.append(
                f'<figure><img src="{html.escape(b.path)}" alt="{html.escape(b.caption)}">'
                f"<figcaption>{_inline(b.caption)}</figcaption></figure>"
            )
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


__all__ = ["Heading", "Paragraph", "Table", "Figure", "Block", "to_markdown", "to_html", "fmt", "slug", "badge"]
