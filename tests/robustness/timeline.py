"""timeline.html of a run: one row per client, watch and node, each
operation a mark at its call time (green ok, red failed, grey unknown), the
fault's window shaded, every fault action a line, the first violation
marked. Self-contained (inline SVG), for a browser."""
import html
import json
import os

import checker

WIDTH = 1400
ROW = 16
LEFT = 120
COLORS = {"ok": "#2a2", "failed": "#d22", "unknown": "#999"}


def write(run_dir, verdict):
    run = checker.Run(run_dir)
    end = max([run.meta.get("end", 1.0)] + [op.get("return", 0) for op in run.ops]) or 1.0
    scale = (WIDTH - LEFT - 10) / end

    def x(t):
        return LEFT + t * scale

    rows = {}
    for op in run.ops:
        rows.setdefault(op["client"], []).append(op)
    names = sorted(rows) + sorted(run.watches) + ["faults"]
    height = ROW * (len(names) + 2)
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" '
             'font-size="11">' % (WIDTH, height)]
    start, stop = run.fault
    parts.append('<rect x="%.1f" y="0" width="%.1f" height="%d" fill="#fdd"><title>fault %s</title></rect>'
                 % (x(start), max(1.0, x(stop) - x(start)), height, html.escape(json.dumps(run.meta["fault"]))))
    for row, name in enumerate(names):
        y = ROW * (row + 1)
        parts.append('<text x="4" y="%d">%s</text>' % (y + 4, html.escape(name)))
        for op in rows.get(name, []):
            color = COLORS.get(op.get("outcome"), "#999")
            width = max(1.5, (op.get("return", op["call"]) - op["call"]) * scale)
            parts.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"><title>%s</title></rect>'
                         % (x(op["call"]), y - 5, width, ROW - 6, color, html.escape(json.dumps(op))))
        for line in run.watches.get(name, []):
            color = {"start": "#06c", "end": "#d22"}.get(line["kind"], "#2a2")
            parts.append('<rect x="%.1f" y="%d" width="1.5" height="%d" fill="%s"><title>%s</title></rect>'
                         % (x(line["t"]), y - 5, ROW - 6, color, html.escape(json.dumps(line)[:2000])))
        if name == "faults":
            for line in run.fault_log:
                parts.append('<line x1="%.1f" x2="%.1f" y1="0" y2="%d" stroke="#a00"><title>%s</title></line>'
                             % (x(line["t"]), x(line["t"]), height, html.escape(json.dumps(line))))
    if verdict["violations"]:
        first = verdict["violations"][0]
        parts.append('<line x1="%.1f" x2="%.1f" y1="0" y2="%d" stroke="#000" stroke-width="3" '
                     'stroke-dasharray="4"><title>%s</title></line>'
                     % (x(first["t"]), x(first["t"]), height, html.escape(json.dumps(first))))
    parts.append("</svg>")
    title = "seed %s, %s, %s: %s" % (run.meta["seed"], run.mode, run.meta["fault"]["name"],
                                     "ok" if verdict["ok"] else "VIOLATION")
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>%s</title></head><body><h1>%s</h1>"
            "<p>Replay: <code>%s</code></p><pre>%s</pre>%s</body></html>"
            % (html.escape(title), html.escape(title), html.escape(run.meta.get("replay", "")),
               html.escape(json.dumps(verdict["violations"][:5], indent=1)), "".join(parts)))
    with open(os.path.join(run_dir, "timeline.html"), "w") as out:
        out.write(page)
