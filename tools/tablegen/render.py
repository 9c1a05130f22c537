"""Draws a table in a Style and records every character's bounding box.

Coordinates are pixels of the final image, boxes are (x0, y0, x1, y1) with
x1/y1 exclusive, from the font's own glyph metrics (not from the ink, so a
blurred or JPEG-degraded image keeps the same boxes). Blank characters get no
box. The caller checks the width and shrinks the style if it does not fit.
"""
import functools
import io

from PIL import Image, ImageDraw, ImageFilter

from . import content, fonts


@functools.lru_cache(maxsize=1 << 16)
def _length(font, text):
    # Fonts come from fonts.load's cache, so the object identity is stable.
    return font.getlength(text)


@functools.lru_cache(maxsize=1 << 14)
def _bbox(font, ch):
    return font.getbbox(ch, anchor="ls")


def _fonts_for(style):
    faces = fonts.discover()[style.family]
    body = fonts.load(faces["regular"], style.font_size)
    bold = faces["bold"] if style.bold_header and faces["bold"] else faces["regular"]
    return body, fonts.load(bold, style.font_size)


def measure(table, style):
    """Returns (width, height, column widths, row height) of the layout."""
    body_font, head_font = _fonts_for(style)
    ascent = max(body_font.getmetrics()[0], head_font.getmetrics()[0])
    descent = max(body_font.getmetrics()[1], head_font.getmetrics()[1])
    row_h = ascent + descent + 2 * style.pad_y
    widths = []
    for col, head in enumerate(table["header"]):
        text_w = _length(head_font, head)
        for row in table["rows"]:
            text_w = max(text_w, _length(body_font, row[col]))
        widths.append(int(round(text_w)) + 2 * style.pad_x + 1)
    width = 2 * style.margin + sum(widths)
    height = 2 * style.margin + row_h * (1 + len(table["rows"]))
    return width, height, widths, row_h


def _text_x(style, kind, cell_x0, cell_w, text_w):
    align = style.align
    if align == "auto":
        align = "right" if kind in content.NUMERIC_TYPES else "left"
    if align == "left":
        return cell_x0 + style.pad_x
    if align == "right":
        return cell_x0 + cell_w - style.pad_x - text_w
    return cell_x0 + (cell_w - text_w) / 2.0


def _glyph_boxes(font, text, x, baseline):
    """Boxes of the non-blank characters of text drawn at (x, baseline), 'ls' anchor."""
    boxes = []
    pen = 0.0
    for i, ch in enumerate(text):
        if i > 0:
            # Advance of the previous character plus the pair's kerning;
            # lengths are sums of 1/64-px advances, so this adds up exactly.
            pen += _length(font, text[i - 1:i + 1]) - _length(font, ch)
        if ch.isspace():
            continue
        left, top, right, bottom = _bbox(font, ch)
        x0 = int(round(x + pen + left))
        x1 = max(x0 + 1, int(round(x + pen + right)))
        y0 = int(round(baseline + top))
        y1 = max(y0 + 1, int(round(baseline + bottom)))
        boxes.append((ch, (x0, y0, x1, y1)))
    return boxes


def _rules(draw, style, xs, ys):
    lw, colour = style.line_width, style.line_colour
    left, right, top, bottom = xs[0], xs[-1], ys[0], ys[-1]

    def hline(y, width):
        draw.rectangle((left, y - width // 2, right, y - width // 2 + width - 1), fill=colour)

    def vline(x):
        draw.rectangle((x - lw // 2, top, x - lw // 2 + lw - 1, bottom), fill=colour)

    if style.rule == "grid":
        for y in ys:
            hline(y, lw)
        for x in xs:
            vline(x)
    elif style.rule == "horizontal":
        for y in ys:
            hline(y, lw)
    elif style.rule == "outer":
        for y in (top, ys[1], bottom):
            hline(y, lw)
        for x in (left, right):
            vline(x)
    elif style.rule == "booktabs":
        hline(top, 2 * lw)
        hline(ys[1], lw)
        hline(bottom, 2 * lw)


def render(table, style):
    """Returns (PIL RGB image, [(char, box)], cell boxes [[box]] header row first)."""
    body_font, head_font = _fonts_for(style)
    width, height, widths, row_h = measure(table, style)
    ascent = max(body_font.getmetrics()[0], head_font.getmetrics()[0])
    image = Image.new("RGB", (width, height), style.background)
    draw = ImageDraw.Draw(image)
    xs = [style.margin]
    for w in widths:
        xs.append(xs[-1] + w)
    n_lines = 1 + len(table["rows"])
    ys = [style.margin + r * row_h for r in range(n_lines + 1)]

    header_ink = style.ink
    if style.fill in ("shaded_header", "zebra_shaded_header", "dark_header"):
        draw.rectangle((xs[0], ys[0], xs[-1] - 1, ys[1] - 1), fill=style.shade)
        if style.fill == "dark_header":
            header_ink = style.background
    if style.fill in ("zebra", "zebra_shaded_header"):
        zebra = tuple(min(255, (s + b) // 2) for s, b in zip(style.shade, style.background))
        for r in range(1, len(table["rows"]), 2):
            draw.rectangle((xs[0], ys[r + 1], xs[-1] - 1, ys[r + 2] - 1), fill=zebra)
    _rules(draw, style, xs, ys)

    glyphs, cells = [], []
    lines = [table["header"]] + table["rows"]
    for r, line in enumerate(lines):
        font = head_font if r == 0 else body_font
        ink = header_ink if r == 0 else style.ink
        baseline = ys[r] + style.pad_y + ascent
        row_cells = []
        for c, text in enumerate(line):
            x = _text_x(style, table["kinds"][c], xs[c], widths[c], _length(font, text))
            if text:
                draw.text((x, baseline), text, font=font, fill=ink, anchor="ls")
                glyphs.extend(_glyph_boxes(font, text, x, baseline))
            row_cells.append((xs[c], ys[r], xs[c + 1], ys[r + 1]))
        cells.append(row_cells)

    if style.blur > 0:
        image = image.filter(ImageFilter.GaussianBlur(style.blur))
    if style.jpeg_quality:
        buf = io.BytesIO()
        image.save(buf, format="JPEG", quality=style.jpeg_quality)
        buf.seek(0)
        image = Image.open(buf).convert("RGB")
    return image, glyphs, cells
