#!/usr/bin/env python3
"""Renders a window of a GRT_TRACE timeline as an SVG, for the book.

    GRT_TRACE=/tmp/t.json cargo run --release --example prime_sieve -- 200
    python3 docs/tools/timeline_svg.py /tmp/t.json docs/src/img/timeline.svg \
        --start-us 2000 --width-us 300

One row per M and per P; a bar per task run, coloured by task and labelled
with its name where it fits; a tick where a task parked; an arrow from each
wake-up to the run it caused. Perfetto shows the same file interactively;
this is the picture the book can print.
"""
import argparse
import colorsys
import json


def colour(task):
    h = (task * 0.618033988749895) % 1.0
    r, g, b = colorsys.hls_to_rgb(h, 0.62, 0.55)
    return "#%02x%02x%02x" % (int(r * 255), int(g * 255), int(b * 255))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("trace")
    ap.add_argument("svg")
    ap.add_argument("--start-us", type=float, default=None)
    ap.add_argument("--width-us", type=float, default=300.0)
    args = ap.parse_args()

    events = json.load(open(args.trace))
    names = {}
    for e in events:
        if e["ph"] == "M" and e["name"] == "thread_name":
            names[(e["pid"], e["tid"])] = e["args"]["name"]
    # Slices from B/E pairs, per track.
    open_at, slices = {}, []
    for e in events:
        if e["ph"] not in "BE":
            continue
        track = (e["pid"], e["tid"])
        if e["ph"] == "B":
            open_at.setdefault(track, []).append(e)
        elif open_at.get(track):
            b = open_at[track].pop()
            slices.append((track, b["ts"], e["ts"], b["name"], b["args"].get("task")))
    start = args.start_us
    if start is None:
        start = min(s[1] for s in slices if s[0][0] == 1)
    end = start + args.width_us
    shown = [s for s in slices if s[2] >= start and s[1] <= end and s[4] is not None]
    tracks = sorted({s[0] for s in shown}, key=lambda t: (t[0], t[1]))
    left, row, width = 70, 26, 900
    height = 40 + row * len(tracks) + 30
    x = lambda ts: left + (min(max(ts, start), end) - start) / args.width_us * width
    y = {t: 30 + i * row for i, t in enumerate(tracks)}
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 20}" height="{height}" '
        'font-family="sans-serif" font-size="11">',
        '<defs><marker id="a" markerWidth="6" markerHeight="6" refX="5" refY="3" orient="auto">'
        '<path d="M0,0 L6,3 L0,6 z" fill="#333"/></marker></defs>',
        f'<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{left}" y="16">GRT_TRACE timeline, {args.width_us:.0f} µs '
        f"from {start / 1000:.3f} ms (bars: task runs; arrows: wake-ups)</text>",
    ]
    for t in tracks:
        label = names.get(t, f"{t}")
        out.append(f'<text x="4" y="{y[t] + 15}">{label}</text>')
        out.append(
            f'<line x1="{left}" x2="{left + width}" y1="{y[t] + row - 3}" '
            f'y2="{y[t] + row - 3}" stroke="#ddd"/>'
        )
    for track, b, e, name, task in shown:
        x0, x1 = x(b), x(e)
        out.append(
            f'<rect x="{x0:.1f}" y="{y[track] + 2}" width="{max(x1 - x0, 0.8):.1f}" '
            f'height="{row - 8}" fill="{colour(task)}"><title>{name}</title></rect>'
        )
        label = name.split(" (")[0]
        if x1 - x0 > 7 * len(label):
            out.append(f'<text x="{x0 + 3:.1f}" y="{y[track] + 15}">{label}</text>')
    # Flow arrows: s (wake-up) to f (next run), both on M tracks.
    starts = {e["id"]: e for e in events if e["ph"] == "s"}
    for e in events:
        if e["ph"] != "f" or e["id"] not in starts:
            continue
        s = starts[e["id"]]
        ts, tf = (1, s["tid"]), (1, e["tid"])
        if ts not in y or tf not in y or not (start <= s["ts"] <= end and start <= e["ts"] <= end):
            continue
        out.append(
            f'<line x1="{x(s["ts"]):.1f}" y1="{y[ts] + row / 2}" x2="{x(e["ts"]):.1f}" '
            f'y2="{y[tf] + row / 2}" stroke="#333" stroke-width="0.7" marker-end="url(#a)"/>'
        )
    axis_y = 30 + row * len(tracks) + 12
    for i in range(6):
        ts = start + args.width_us * i / 5
        out.append(f'<text x="{x(ts) - 10:.1f}" y="{axis_y}">{(ts - start):.0f} µs</text>')
    out.append("</svg>")
    open(args.svg, "w").write("\n".join(out))


if __name__ == "__main__":
    main()
