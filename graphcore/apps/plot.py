"""Training curves as PNG files, with no plotting library: a NumPy raster and zlib's PNG encoding.

``plot_history(history, "curves.png")`` draws one panel for the loss and one for the other metrics
(validation curves dashed), each with axes, min/max tick labels and a legend. Text uses a built-in 3×5
pixel font, so the file looks the same everywhere and matplotlib stays out of the dependencies.
"""
import numpy as np

from ..io import write_png

_FONT = {  # 3×5 glyphs, one row per string, '#' = ink
    "0": "### #.# #.# #.# ###", "1": ".#. ##. .#. .#. ###", "2": "### ..# ### #.. ###", "3": "### ..# ### ..# ###",
    "4": "#.# #.# ### ..# ..#", "5": "### #.. ### ..# ###", "6": "### #.. ### #.# ###", "7": "### ..# ..# ..# ..#",
    "8": "### #.# ### #.# ###", "9": "### #.# ### ..# ###", ".": "... ... ... ... .#.", "-": "... ... ### ... ...",
    "_": "... ... ... ... ###", ":": "... .#. ... .#. ...", " ": "... ... ... ... ...", "/": "..# ..# .#. #.. #..",
    "a": "... ### ..# ### ###", "b": "#.. #.. ### #.# ###", "c": "... ### #.. #.. ###", "d": "..# ..# ### #.# ###",
    "e": "### #.# ### #.. ###", "f": ".## #.. ### #.. #..", "g": "### #.# ### ..# ###", "h": "#.. #.. ### #.# #.#",
    "i": ".#. ... .#. .#. .#.", "k": "#.. #.# ##. #.# #.#", "l": "##. .#. .#. .#. ###", "m": "... ### ### #.# #.#",
    "n": "... ##. #.# #.# #.#", "o": "... ### #.# #.# ###", "p": "### #.# ### #.. #..", "r": "... ### #.. #.. #..",
    "s": "... ### ##. ..# ###", "t": ".#. ### .#. .#. .##", "u": "... #.# #.# #.# ###", "v": "... #.# #.# #.# .#.",
    "x": "... #.# .#. #.# #.#", "y": "#.# #.# ### ..# ###", "z": "... ### .#. #.. ###",
}
_COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75)]
_INK, _GRID = (40, 40, 40), (225, 225, 225)


class _Canvas:
    def __init__(self, width, height):
        self.pixels = np.full((height, width, 3), 255, np.uint8)

    def rect(self, x0, y0, x1, y1, colour):
        self.pixels[max(y0, 0):y1, max(x0, 0):x1] = colour

    def line(self, x0, y0, x1, y1, colour, dashed=False, width=2):
        """Anti-aliasing-free polyline segment, sampled densely enough to leave no gaps."""
        steps = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
        t = np.linspace(0.0, 1.0, steps)
        xs, ys = np.round(x0 + (x1 - x0) * t).astype(int), np.round(y0 + (y1 - y0) * t).astype(int)
        if dashed:
            keep = (np.arange(steps) // 5) % 2 == 0
            xs, ys = xs[keep], ys[keep]
        h, w = self.pixels.shape[:2]
        for dy in range(width):
            for dx in range(width):
                ok = (ys + dy < h) & (xs + dx < w)
                self.pixels[ys[ok] + dy, xs[ok] + dx] = colour

    def text(self, x, y, string, colour=_INK, scale=2):
        for k, char in enumerate(string.lower()):
            glyph = _FONT.get(char, _FONT[" "]).split()
            for row, bits in enumerate(glyph):
                for col, bit in enumerate(bits):
                    if bit == "#":
                        x0, y0 = x + (4 * k + col) * scale, y + row * scale
                        self.rect(x0, y0, x0 + scale, y0 + scale, colour)



def _panel(canvas, x, y, w, h, title, series):
    """Axes, grid, min/max labels, one polyline per series, and the legend, in the box (x, y, w, h)."""
    values = np.concatenate([np.asarray(v, np.float64) for v in series.values()])
    values = values[np.isfinite(values)]
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
    if high - low < 1e-12:
        low, high = low - 0.5, high + 0.5
    left, top, right, bottom = x + 70, y + 30, x + w - 10, y + h - 40
    canvas.text(x + 10, y + 6, title, scale=3)
    for k in range(5):
        gy = top + (bottom - top) * k // 4
        canvas.rect(left, gy, right, gy + 1, _GRID)
    canvas.rect(left, top, left + 2, bottom, _INK)
    canvas.rect(left, bottom, right, bottom + 2, _INK)
    canvas.text(x + 4, top, f"{high:.3g}")
    canvas.text(x + 4, bottom - 10, f"{low:.3g}")
    length = max(len(v) for v in series.values())
    # The legend goes in the corner the curves leave free: below them when they finish high (accuracy).
    finish = np.nanmean([np.asarray(v, np.float64)[-1] for v in series.values()])
    legend_top = bottom - 10 - 16 * len(series) if finish > (low + high) / 2 else top + 8
    canvas.text(left, bottom + 8, "epoch 1")
    canvas.text(right - 16 * len(str(length)) - 40, bottom + 8, f"epoch {length}")
    for k, (name, ys) in enumerate(series.items()):
        colour = _COLOURS[k % len(_COLOURS)]
        ys = np.asarray(ys, np.float64)
        xs = left + (right - left) * (np.arange(len(ys)) / max(length - 1, 1))
        py = bottom - (bottom - top) * (ys - low) / (high - low)
        for i in range(len(ys) - 1):
            canvas.line(xs[i], py[i], xs[i + 1], py[i + 1], colour, dashed=name.startswith("val_"))
        if len(ys) == 1:
            canvas.rect(int(xs[0]) - 2, int(py[0]) - 2, int(xs[0]) + 3, int(py[0]) + 3, colour)
        lx, ly = right - 170, legend_top + 16 * k
        canvas.line(lx, ly + 4, lx + 24, ly + 4, colour, dashed=name.startswith("val_"))
        canvas.text(lx + 30, ly, name)


def plot_history(history, path, width=900, height=360):
    """Write ``history`` (metric name → per-epoch values, e.g. ``History.history``) as a PNG; returns path.
    Losses go in the left panel, every other metric in the right one."""
    history = {k: list(v) for k, v in history.items() if len(v)}
    if not history:
        raise ValueError("nothing to plot: the history is empty")
    groups = [("loss", {k: v for k, v in history.items() if k.endswith("loss")}),
              ("metrics", {k: v for k, v in history.items() if not k.endswith("loss")})]
    groups = [(title, series) for title, series in groups if series]
    canvas = _Canvas(width, height)
    panel_width = width // len(groups)
    for k, (title, series) in enumerate(groups):
        _panel(canvas, k * panel_width, 0, panel_width, height, title, series)
    return write_png(path, canvas.pixels)
