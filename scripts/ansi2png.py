"""Renders `tmux capture-pane -p -e` output (ANSI SGR colours) to a PNG, one monospace cell per column.
usage: ansi2png.py IN.ansi OUT.png [COLUMNS]"""
import re, sys, unicodedata
from PIL import Image, ImageDraw, ImageFont

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
FONT_BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf"
SIZE = 15
BG = (24, 26, 33)
FG = (208, 212, 220)
BASE = [(40, 42, 54), (232, 98, 98), (108, 204, 120), (230, 200, 90), (98, 150, 240), (200, 120, 220), (90, 200, 220), (220, 222, 228)]
BRIGHT = [(90, 92, 104), (255, 128, 128), (140, 230, 150), (250, 220, 120), (130, 180, 255), (230, 150, 240), (130, 230, 240), (255, 255, 255)]

def xterm256(n):
    if n < 8: return BASE[n]
    if n < 16: return BRIGHT[n - 8]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return (steps[n // 36], steps[n // 6 % 6], steps[n % 6])
    v = 8 + (n - 232) * 10
    return (v, v, v)

def parse(text):
    rows = []
    # capture-pane -e only emits changes, so the state carries over from one line to the next.
    st = {"fg": None, "bg": None, "bold": False, "dim": False, "rev": False}
    for line in text.rstrip("\n").split("\n"):
        cells = []
        i = 0
        while i < len(line):
            m = re.match(r"\x1b\[([0-9;]*)m", line[i:])
            if m:
                codes = [int(c) if c else 0 for c in m.group(1).split(";")] if m.group(1) else [0]
                k = 0
                while k < len(codes):
                    c = codes[k]
                    if c == 0: st = {"fg": None, "bg": None, "bold": False, "dim": False, "rev": False}
                    elif c == 1: st["bold"] = True
                    elif c == 2: st["dim"] = True
                    elif c == 22: st["bold"] = st["dim"] = False
                    elif c == 7: st["rev"] = True
                    elif c == 27: st["rev"] = False
                    elif 30 <= c <= 37: st["fg"] = BASE[c - 30]
                    elif 90 <= c <= 97: st["fg"] = BRIGHT[c - 90]
                    elif c == 39: st["fg"] = None
                    elif 40 <= c <= 47: st["bg"] = BASE[c - 40]
                    elif c == 49: st["bg"] = None
                    elif c in (38, 48) and k + 2 < len(codes) and codes[k + 1] == 5:
                        st["fg" if c == 38 else "bg"] = xterm256(codes[k + 2]); k += 2
                    k += 1
                i += m.end()
                continue
            m = re.match(r"\x1b[^a-zA-Z]*[a-zA-Z]", line[i:])
            if m:
                i += m.end(); continue
            ch = line[i]
            cells.append((ch, dict(st)))
            if unicodedata.east_asian_width(ch) in ("W", "F"):
                cells.append(("", dict(st)))
            i += 1
        rows.append(cells)
    return rows

def render(rows, out, cols):
    font = ImageFont.truetype(FONT, SIZE)
    bold = ImageFont.truetype(FONT_BOLD, SIZE)
    cw = round(font.getlength("M"))
    ch = SIZE + 4
    pad = 12
    img = Image.new("RGB", (pad * 2 + cw * cols, pad * 2 + ch * len(rows)), BG)
    d = ImageDraw.Draw(img)
    for y, row in enumerate(rows):
        for x, (c, st) in enumerate(row[:cols]):
            fg = st["fg"] or FG
            bg = st["bg"]
            if st["dim"]: fg = tuple(int(v * 0.55 + b * 0.45) for v, b in zip(fg, BG))
            if st["rev"]: fg, bg = (bg or BG), fg
            px, py = pad + x * cw, pad + y * ch
            if bg: d.rectangle([px, py, px + cw - 1, py + ch - 1], fill=bg)
            if c and 0x2800 < ord(c) <= 0x28FF:
                # Braille: draw the 2x4 dot matrix itself (monospace fonts rarely carry the block).
                bits = ord(c) - 0x2800
                layout = [(0, 0, 0x01), (0, 1, 0x02), (0, 2, 0x04), (0, 3, 0x40), (1, 0, 0x08), (1, 1, 0x10), (1, 2, 0x20), (1, 3, 0x80)]
                r = max(1, cw // 6)
                for col, row, bit in layout:
                    if bits & bit:
                        cx = px + cw * (1 + 2 * col) // 4
                        cy = py + ch * (1 + 2 * row) // 8
                        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fg)
            elif c and c != " ":
                d.text((px, py + 1), c, font=bold if st["bold"] else font, fill=fg)
    img.save(out)

if __name__ == "__main__":
    text = open(sys.argv[1], encoding="utf-8").read()
    rows = parse(text)
    cols = int(sys.argv[3]) if len(sys.argv) > 3 else max(len(r) for r in rows)
    render(rows, sys.argv[2], cols)
