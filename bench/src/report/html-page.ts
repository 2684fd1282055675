// The self-contained page both the report and the comparison are: uPlot's script and style, the page's own
// script and style, and the data, all inlined (read from node_modules at render time), and a Content-Security-
// Policy that forbids every request, so the file opens offline and tells nobody it was opened.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChartSpec } from './chart-data';

const ASSETS = join(__dirname, 'assets');

let cachedAssets: { uplotJs: string; uplotCss: string; pageJs: string; pageCss: string } | undefined;

function assets() {
  cachedAssets ??= {
    uplotJs: readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8'),
    uplotCss: readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8'),
    pageJs: readFileSync(join(ASSETS, 'report-page.js'), 'utf8'),
    pageCss: readFileSync(join(ASSETS, 'report.css'), 'utf8'),
  };
  return cachedAssets;
}

/** HTML text and attribute escaping. */
export function esc(v: unknown): string {
  return String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** JSON inside a <script> element: nothing in it may close the element or start a comment. */
export function scriptJson(v: unknown): string {
  return JSON.stringify(v).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/** Inline text inside <script>/<style>: a literal closing tag would end the element early. */
function inlineSafe(text: string, tag: 'script' | 'style'): string {
  return text.replace(new RegExp(`</${tag}`, 'gi'), `<\\/${tag}`);
}

export const CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; font-src data:; connect-src 'none'; form-action 'none'; base-uri 'none'";

export function page(opts: { title: string; body: string; charts: ChartSpec[]; generator: string }): string {
  const a = assets();
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${esc(CSP)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="${esc(opts.generator)}">
<title>${esc(opts.title)}</title>
<style>${inlineSafe(a.uplotCss, 'style')}</style>
<style>${inlineSafe(a.pageCss, 'style')}</style>
</head>
<body>
<main>
${opts.body}
</main>
<script type="application/json" id="report-data">${scriptJson({ charts: opts.charts })}</script>
<script>${inlineSafe(a.uplotJs, 'script')}</script>
<script>${inlineSafe(a.pageJs, 'script')}</script>
</body>
</html>
`;
}

/** A chart's container; the page script draws into it. */
export function chartCard(c: ChartSpec, wide = false): string {
  return `<div class="chart-card${wide ? ' wide' : ''}"><h3>${esc(c.title)}</h3>${c.note ? `<p class="note">${esc(c.note)}</p>` : ''}<div class="chart" data-chart="${esc(c.id)}" role="img" aria-label="${esc(c.title)}"></div></div>`;
}

// Number formatting shared by the report and the comparison (and their tests, which read the tables back).

/** Milliseconds: three significant digits, at most three decimals (the bench records microseconds). */
export function fmtMs(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  return sig3(v);
}

export function sig3(v: number): string {
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 100) return String(Math.round(v));
  if (a >= 10) return trim(v.toFixed(1));
  if (a >= 1) return trim(v.toFixed(2));
  return trim(v.toFixed(3));
}

function trim(s: string): string {
  return s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s;
}

/** A count with thousands separators. */
export function fmtInt(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  return Math.round(v).toLocaleString('en-US');
}

/** A rate: whole numbers from 100 up, else two decimals at most. */
export function fmtRate(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  return Math.abs(v) >= 100 ? Math.round(v).toLocaleString('en-US') : trim(v.toFixed(2));
}

/** A share 0..1 as a percentage. */
export function fmtPct(v: number | null | undefined, digits = 2): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  return `${trim((v * 100).toFixed(digits))}%`;
}

/** A signed relative change, e.g. +38% or -4.1%. */
export function fmtChange(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  const pct = v * 100;
  const a = Math.abs(pct);
  const s = a >= 100 ? String(Math.round(pct)) : a >= 10 ? pct.toFixed(0) : trim(pct.toFixed(1));
  return `${pct > 0 ? '+' : pct < 0 ? '' : '±'}${s}%`;
}

export function fmtDate(v: unknown): string {
  if (typeof v !== 'string') return '–';
  const t = Date.parse(v);
  if (!Number.isFinite(t)) return esc(v);
  return new Date(t).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}

export function fmtDuration(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return '–';
  const s = ms / 1000;
  if (s < 60) return `${trim(s.toFixed(s < 10 ? 2 : 1))} s`;
  const m = Math.floor(s / 60);
  const r = Math.round(s - m * 60);
  if (m < 60) return `${m}m ${String(r).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}
