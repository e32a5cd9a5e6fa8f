"""The HTML page shell the validation and benchmark reports share: style, headline pieces, sortable tables.

Pages are self-contained (no network): CSS and scripts inline, images as data URIs. Everything is
laid out to fit a 1,280 px window (``max-width: 1240px``, tables with fixed layout that wrap).
"""

from __future__ import annotations

import base64
import datetime
import html
from pathlib import Path
from typing import Any, Iterable

from pipeline.missing import is_missing

__all__ = ["esc", "page", "card", "verdict_box", "facts", "figure", "fmt", "utc_now", "SORT_JS"]

CSS = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;padding:16px 20px;max-width:1240px;color:#222;font-size:14px}
h1{font-size:22px;margin:4px 0 8px}h2{font-size:17px;margin:22px 0 8px;border-bottom:1px solid #ddd;padding-bottom:3px}
code{font-size:12px;background:#f4f4f4;padding:0 3px;border-radius:3px}
.facts{display:grid;grid-template-columns:160px 1fr;gap:2px 12px;margin:6px 0 12px}.facts dt{color:#666}.facts dd{margin:0;overflow-wrap:anywhere}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:8px;margin:8px 0}
.card{border:1px solid #ddd;border-radius:6px;padding:6px 9px}.card .v{font-size:22px;font-weight:600}.card .u{font-size:13px;color:#555;margin-left:2px}
.card .l{font-weight:600}.card .d{font-size:11.5px;color:#555;margin-top:2px}
.verdict{border-radius:6px;padding:8px 12px;margin:10px 0;font-size:15px}.verdict.good{background:#e7f5e9;border:1px solid #8cc897}
.verdict.warn{background:#fff6e0;border:1px solid #e6c15a}.verdict.bad{background:#fdeaea;border:1px solid #e39a9a}
table.data{border-collapse:collapse;width:100%;table-layout:fixed;font-size:12.5px}
table.data th,table.data td{border-bottom:1px solid #e2e2e2;padding:4px 5px;vertical-align:top;text-align:left;overflow-wrap:anywhere}
table.data th{background:#f6f6f6;position:sticky;top:0;cursor:pointer;user-select:none;font-weight:600}
table.data th[data-sorted]::after{content:attr(data-sorted);color:#888;margin-left:3px}
table.data .num{text-align:right}.small{font-size:11px;color:#555}.mono{font-family:ui-monospace,monospace;font-size:11px}
.chip{display:inline-block;padding:0 4px;margin:1px;border-radius:3px;font-size:11px;background:#eee}
.chip.ok{background:#d9f0dd}.chip.no{background:#f7dede}.chip.inv{background:#f1f1f1;color:#888;font-style:italic}
.bar{height:5px;background:#f2d4d4;border-radius:2px;margin-top:3px}.bar>span{display:block;height:5px;background:#5aa469;border-radius:2px}
td svg{width:100%;height:auto}
figure{display:inline-block;vertical-align:top;width:calc(50% - 12px);margin:6px 4px}figure img{width:100%}
figcaption{font-size:12px;color:#444}figcaption b{color:#222}
button{font-size:12px;cursor:pointer}
"""

#: click a header of a ``table.data`` to sort by it (cells may carry ``data-v``: the value to sort by)
SORT_JS = """
document.querySelectorAll('table.data').forEach(function(t){
  t.querySelectorAll('th').forEach(function(th,i){
    th.addEventListener('click',function(){
      var asc=th.getAttribute('data-sorted')!=='▲';
      t.querySelectorAll('th').forEach(function(h){h.removeAttribute('data-sorted');});
      th.setAttribute('data-sorted',asc?'▲':'▼');
      var rows=Array.prototype.slice.call(t.tBodies[0].rows);
      function key(r){var c=r.cells[i];var v=c.getAttribute('data-v');if(v===null)v=c.textContent.trim();var f=parseFloat(v);return isNaN(f)?v.toLowerCase():f;}
      rows.sort(function(a,b){var x=key(a),y=key(b);if(typeof x!==typeof y){x=String(x);y=String(y);}return (x<y?-1:x>y?1:0)*(asc?1:-1);});
      rows.forEach(function(r){t.tBodies[0].appendChild(r);});
    });
  });
});
"""


def esc(v: Any) -> str:
    return html.escape(str(v), quote=True)


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def fmt(v: Any, kind: str = "f3") -> str:
    """``pct`` (fraction -> %), ``int``, ``fN``; missing / NaN -> an en dash."""
    if is_missing(v):
        return "–"
    if kind == "pct":
        return f"{100 * float(v):.1f}"
    if kind == "int":
        return f"{int(v)}"
    return f"{float(v):.{kind[1:]}f}"


def card(label: str, value: str, unit: str, definition: str) -> str:
    u = f'<span class="u">{esc(unit)}</span>' if value != "–" and unit else ""
    return f'<div class="card"><div class="l">{esc(label)}</div><div class="v">{esc(value)}{u}</div><div class="d">{esc(definition)}</div></div>'


def verdict_box(text: str, tone: str) -> str:
    return f'<div class="verdict {tone}" id="verdict"><b>Verdict.</b> {esc(text)}</div>'


def facts(items: Iterable[tuple[str, str]]) -> str:
    """A definition list; values are already HTML."""
    return '<dl class="facts">' + "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in items) + "</dl>"


def figure(path: Path, title: str, caption: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<figure><img src="data:image/png;base64,{data}" alt="{esc(title)}"><figcaption><b>{esc(title)}.</b> {esc(caption)}</figcaption></figure>'


def page(title: str, body: str, scripts: Iterable[str] = ()) -> str:
    js = "".join(f"<script>{s}</script>" for s in scripts)
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>{body}<script>{SORT_JS}</script>{js}</body></html>"
    )
