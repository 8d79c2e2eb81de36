"""What a gallery folder holds beside its pictures: `manifest.json` (each target's status, time and
score), contact sheets (`sheet.png`, then `sheet-2.png`, ... past SHEET_TILES tiles), thumbnails
(`thumbs/<stem>.jpg`) and `index.html`, a static page with a search box that loads nothing from the
network. Every file is written whole or not at all (`classviz.atomic`)."""
import glob
import html
import json
import os
import time

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .. import __version__
from ..atomic import atomic

MANIFEST = "manifest.json"
SHEET_COLUMNS, SHEET_TILES = 10, 100  # 10 x 10 tiles a page: about 1700 x 1900 pixels
TILE, LABEL = 160, 30  # a tile's picture side and caption height, pixels
THUMB = 128


def manifest_path(out_dir):
    """Path (str) of the manifest in `out_dir`."""
    return os.path.join(out_dir, MANIFEST)


def read_manifest(out_dir):
    """The manifest in `out_dir` as a dict, or None when there is none or it cannot be read."""
    try:
        with open(manifest_path(out_dir), encoding="utf-8") as f:
            m = json.load(f)
        return m if isinstance(m, dict) and isinstance(m.get("targets"), list) else None
    except (OSError, ValueError):
        return None


def write_manifest(out_dir, header, entries):
    """Write `out_dir`/manifest.json: `header` (dict: the recipe and run facts) and `entries` (list
    of dicts, one per target: index, name, file, status 'done' | 'pending' | 'failed', rendered
    (True when drawn by the last run, False when kept), seconds, score, error), with counts."""
    counts = {s: sum(e["status"] == s for e in entries) for s in ("done", "pending", "failed")}
    doc = {**header, "classviz": __version__, "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
           "counts": counts, "targets": entries}
    with atomic(manifest_path(out_dir)) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")


def _font(size):
    try:
        return ImageFont.load_default(size)
    except TypeError:  # Pillow before 10.1 has one bitmap size
        return ImageFont.load_default()


def _fit(draw, text, font, width):
    """`text`, cut with '...' until it is at most `width` pixels wide in `font`."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "...", font=font) > width:
        text = text[:-1]
    return text + "..."


def write_sheets(out_dir, done, title):
    """Contact sheets of the finished pictures: `done` is a list of (Target, image path); tiles of
    TILE pixels captioned '<index> <name>', SHEET_COLUMNS a row, SHEET_TILES a page, `title` on top.
    Writes sheet.png, sheet-2.png, ... and removes sheets of an earlier, longer run. Returns the
    paths written (list of str; empty when `done` is)."""
    font, head_font = _font(12), _font(16)
    pages = [done[i:i + SHEET_TILES] for i in range(0, len(done), SHEET_TILES)]
    written = []
    for p, tiles in enumerate(pages):
        rows = -(-len(tiles) // SHEET_COLUMNS)
        cols = min(len(tiles), SHEET_COLUMNS)
        top = 30
        sheet = Image.new("RGB", (cols * TILE, top + rows * (TILE + LABEL)), "white")
        draw = ImageDraw.Draw(sheet)
        page_note = f"  (page {p + 1} of {len(pages)})" if len(pages) > 1 else ""
        draw.text((6, 6), _fit(draw, title + page_note, head_font, cols * TILE - 12), fill="black", font=head_font)
        for k, (t, path) in enumerate(tiles):
            x, y = (k % SHEET_COLUMNS) * TILE, top + (k // SHEET_COLUMNS) * (TILE + LABEL)
            try:
                with Image.open(path) as im:
                    sheet.paste(im.convert("RGB").resize((TILE - 4, TILE - 4), Image.LANCZOS), (x + 2, y + 2))
            except OSError:
                draw.rectangle((x + 2, y + 2, x + TILE - 3, y + TILE - 3), outline="grey")
            draw.text((x + 3, y + TILE), _fit(draw, f"{t.index} {t.name}", font, TILE - 6), fill="black", font=font)
        name = "sheet.png" if p == 0 else f"sheet-{p + 1}.png"
        path = os.path.join(out_dir, name)
        with atomic(path) as tmp:
            sheet.save(tmp, format="PNG")
        written.append(path)
    for old in glob.glob(os.path.join(glob.escape(out_dir), "sheet-*.png")):
        tail = os.path.basename(old)[len("sheet-"):-len(".png")]
        if tail.isdigit() and int(tail) > len(pages):
            os.unlink(old)
    return written


def write_thumbs(out_dir, done):
    """A THUMB-pixel JPEG of each finished picture in `out_dir`/thumbs (redone only when older than
    its picture). done: list of (Target, image path). Returns {stem: thumbnail path relative to
    out_dir} for those written or current."""
    folder = os.path.join(out_dir, "thumbs")
    os.makedirs(folder, exist_ok=True)
    out = {}
    for t, path in done:
        thumb = os.path.join(folder, t.stem + ".jpg")
        try:
            if not (os.path.exists(thumb) and os.path.getmtime(thumb) >= os.path.getmtime(path)):
                with Image.open(path) as im:
                    small = im.convert("RGB").resize((THUMB, THUMB), Image.LANCZOS)
                with atomic(thumb) as tmp:
                    small.save(tmp, format="JPEG", quality=85)
            out[t.stem] = "thumbs/" + t.stem + ".jpg"
        except OSError:
            continue
    return out


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 1em; background: #fafafa; }}
header {{ position: sticky; top: 0; background: #fafafa; padding: .5em 0; }}
input {{ font-size: 1.1em; width: 24em; max-width: 90%; }}
#grid {{ display: flex; flex-wrap: wrap; gap: 10px; }}
figure {{ margin: 0; width: {thumb}px; font-size: 12px; }}
figure[hidden] {{ display: none; }}
img {{ width: {thumb}px; height: {thumb}px; display: block; background: #ddd; }}
figcaption {{ overflow-wrap: anywhere; }}
.score {{ color: #666; }}
</style>
</head>
<body>
<header>
<h1>{title}</h1>
<p>{subtitle}</p>
<input id="q" type="search" placeholder="search by name or index" aria-label="search" autofocus>
<span id="count"></span>
</header>
<main id="grid">
{figures}
</main>
<script>
"use strict";
const q = document.getElementById("q"), count = document.getElementById("count");
const figures = Array.from(document.querySelectorAll("figure"));
function filter() {{
  const words = q.value.toLowerCase().split(/\\s+/).filter(Boolean);
  let shown = 0;
  for (const f of figures) {{
    const hit = words.every(w => f.dataset.key.includes(w));
    f.hidden = !hit;
    shown += hit;
  }}
  count.textContent = shown + " of " + figures.length;
  document.body.dataset.shown = shown;
}}
q.addEventListener("input", filter);
const given = new URLSearchParams(location.search).get("q");
if (given) q.value = given;
filter();
window.addEventListener("load", () => {{
  document.body.dataset.loaded = figures.filter(f => {{
    const img = f.querySelector("img");
    return img && img.complete && img.naturalWidth > 0;
  }}).length;
}});
</script>
</body>
</html>
"""


def write_index(out_dir, entries, thumbs, title, subtitle):
    """`out_dir`/index.html: a figure per finished entry (manifest entries with status 'done'), its
    thumbnail (`thumbs`: {stem: relative path}) linking to the full picture, the name, index and
    score; a search box filtering by name or index (also from the page's ?q= parameter)."""
    figures = []
    for e in entries:
        if e["status"] != "done":
            continue
        stem = e["file"][:-len(".png")]
        key = f"{e['index']} {e['name']}".lower()
        score = "" if e.get("score") is None else f"<br><span class=\"score\">score {e['score']:.3g}</span>"
        src = thumbs.get(stem, e["file"])
        figures.append(
            f'<figure data-key="{html.escape(key)}"><a href="{html.escape(e["file"])}">'
            f'<img src="{html.escape(src)}" alt="{html.escape(e["name"])}" width="{THUMB}" height="{THUMB}"></a>'
            f'<figcaption>{e["index"]} {html.escape(e["name"])}{score}</figcaption></figure>')
    page = _PAGE.format(title=html.escape(title), subtitle=html.escape(subtitle), thumb=THUMB,
                        figures="\n".join(figures))
    path = os.path.join(out_dir, "index.html")
    with atomic(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(page)
    return path


def image_of(path):
    """The RGB pixels (uint8 (H, W, 3)) of the PNG at `path`."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))
