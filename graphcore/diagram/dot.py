"""Emit a ``Diagram`` as DOT text inside a ``graphviz.Digraph``.

The text is built here line by line, in the diagram's order, with ids numbered in that order: the same
program gives the same bytes, so golden files can pin diagrams down. Labels are graphviz HTML-like labels
(bold title, small detail lines), escaped here.
"""
import html

import graphviz

from . import style
from .model import Cluster

def to_digraph(diagram, rankdir="TB", show_legend=True, shapes_note=True):
    graph_attr = {
        "rankdir": rankdir, "label": _graph_label(diagram, show_legend, shapes_note), "labelloc": "t",
        "fontname": style.FONT, "fontsize": "10",
        "nodesep": "0.25", "ranksep": "0.35", "outputorder": "edgesfirst",
    }
    if diagram.size > style.BIG_DIAGRAM:
        graph_attr.update({"nslimit": "2", "nslimit1": "2", "mclimit": "0.05", "splines": "line"})
    dot = graphviz.Digraph(
        name="graphcore", graph_attr=graph_attr,
        node_attr={"fontname": style.FONT, "fontsize": "10", "margin": "0.1,0.04", "color": "#495057",
                   "height": "0.3"},
        edge_attr={"fontname": style.FONT, "fontsize": "8", "color": "#6c757d", "fontcolor": "#495057",
                   "arrowsize": "0.6"})
    lines = []
    counter = iter(range(1 << 30))
    for child in diagram.root.children:
        lines += _item(child, counter, 1)
    faint = set()
    for edge in diagram.edges:
        attrs = dict(style.EDGE_STYLES[edge.style])
        if edge.crossing:
            if (edge.src, edge.dst, edge.style) in faint:
                continue   # unlabelled, parallel crossing edges would be drawn on top of each other
            faint.add((edge.src, edge.dst, edge.style))
            # Ranks follow each pass's own flow (a gradient need not sit below its forward op), and the many
            # edges from the forward pass into the backward one are drawn faint and unlabelled (their shapes
            # are on the forward edges already), so the two passes stay readable.
            attrs.update(style.CROSSING_EDGE)
        elif edge.label:
            attrs["label"] = edge.label
        lines.append(f"{edge.src} -> {edge.dst}{_attrs(attrs)}")
    dot.body.extend(f"\t{line}\n" for line in lines)
    return dot


def _item(item, counter, level):
    indent = "\t" * (level - 1)
    if not isinstance(item, Cluster):
        return [indent + box_line(item)]
    lines = [f"{indent}subgraph cluster_{next(counter)} {{"]
    lines += [f"{indent}\t{line}" for line in cluster_lines(item)]
    for child in item.children:
        lines += _item(child, counter, level + 1)
    return lines + [indent + "}"]


def cluster_lines(cluster):
    """The attribute lines of a cluster (inside its ``subgraph cluster_N { … }``)."""
    attrs = dict(style.PHASE_CLUSTER[cluster.phase], label=cluster.label, fontname=style.FONT, fontsize="11",
                 labeljust="l")
    if cluster.repeat > 1:
        attrs["penwidth"] = "2.5"
    return [f"{key}={_quote(value)}" for key, value in attrs.items()]


def box_line(box):
    """A box's DOT statement: ``n3 [shape=…, label=<…>, …]``."""
    attrs = dict(style.SHAPES[box.kind], fillcolor=style.fill(box.category), label=_html_label(box))
    if box.tooltip:
        attrs["tooltip"] = box.tooltip
    if box.params and box.frozen == box.params and box.kind != "variable" and box.phase == "forward":
        attrs["style"] += ",dashed"
    if box.kind == "variable" and box.category == "frozen":
        attrs["style"] += ",dashed"
    if box.phase != "forward":
        attrs["color"] = style.PHASE_CLUSTER[box.phase]["color"]
    if box.repeat > 1:
        attrs["penwidth"] = "2"
    return f"{box.id}{_attrs(attrs)}"


def _html_label(box):
    rows = [f"<b>{html.escape(box.title)}</b>"]
    lines = _packed(box.lines) + ([box.footer] if box.footer else [])
    rows += [f'<font point-size="8.5">{html.escape(line)}</font>' for line in lines]
    return "<" + "<br/>".join(rows) + ">"


def _packed(lines, width=26):
    """The kind line alone, then settings joined with ' · ' up to ``width`` characters: compact boxes."""
    lines = [line for line in lines if line]
    packed = lines[:1]
    for item in lines[1:]:
        if len(packed) > 1 and len(packed[-1]) + 3 + len(item) <= width:
            packed[-1] += " · " + item
        else:
            packed.append(item)
    return packed


def _graph_label(diagram, show_legend, shapes_note):
    """Title, then the legend in rows beneath it: part of the graph's label, so it never moves a node."""
    rows = [f'<tr><td><font point-size="16">{html.escape(diagram.title)}</font></td></tr>']
    if diagram.warning:
        head, _, tail = diagram.warning.partition(": ")
        rows.append(f'<tr><td><font point-size="12" color="#c92a2a"><b>{html.escape(head)}</b><br/>'
                    f'{"<br/>".join(html.escape(part) for part in tail.split("; "))}</font></td></tr>')
    if show_legend:
        cells = [f'<td bgcolor="{colour}" width="12" border="1" color="#adb5bd"> </td>'
                 f'<td align="left">{html.escape(text)}  </td>' for colour, text in style.legend_rows(diagram.categories)]
        if cells:   # one inner table, so swatch columns line up across legend rows and stay narrow
            lines = "".join(f'<tr>{"".join(cells[k:k + 6])}</tr>' for k in range(0, len(cells), 6))
            rows.append(f'<tr><td><table border="0" cellspacing="2" cellpadding="1">{lines}</table></td></tr>')
        notes = [note for note, needed in (("×N: N identical blocks in a row, drawn once", diagram.repeated),
                                           ("dashed border: frozen (not trained)", diagram.frozen),
                                           ("edge labels: tensor shapes, ? = batch", shapes_note)) if needed]
        notes += diagram.notes
        if notes:
            rows.append(f'<tr><td><font point-size="9">{html.escape("   ·   ".join(notes))}</font></td></tr>')
    return '<<table border="0" cellborder="0" cellspacing="1" cellpadding="1">' + "".join(rows) + "</table>>"


def _attrs(attrs):
    return " [" + ", ".join(f"{key}={_quote(value)}" for key, value in attrs.items()) + "]" if attrs else ""


def _quote(value):
    value = str(value)
    if value.startswith("<") and value.endswith(">"):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
