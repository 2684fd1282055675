// Debian's Chromium driven by playwright-core, as a person would open a report: headless, no sandbox (root in
// CI), no background traffic of its own, a fresh profile per launch. `open` records every request the page
// makes and every console error, so a test can assert that a self-contained page asks for nothing but itself.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

export interface Browser {
  open(file: string, viewport?: { width: number; height: number }): Promise<OpenedPage>;
  close(): Promise<void>;
}

export interface OpenedPage {
  page: Page;
  /** every URL the page requested, its own file included */
  requests: string[];
  /** console errors and uncaught page errors */
  errors: string[];
}

export async function launchBrowser(): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'bench-chromium-'));
  const context: BrowserContext = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: ARGS, timeout: 60_000,
  });
  return {
    async open(file, viewport = { width: 1280, height: 900 }) {
      const page = await context.newPage();
      await page.setViewportSize(viewport);
      const requests: string[] = [];
      const errors: string[] = [];
      page.on('request', (r) => requests.push(r.url()));
      page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(pathToFileURL(file).href, { waitUntil: 'load', timeout: 60_000 });
      await page.waitForSelector('html[data-charts-ready]', { timeout: 30_000 });
      return { page, requests, errors };
    },
    async close() {
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * For every chart container on the page: whether the page script drew it, and how many canvas pixels carry one
 * of its series' colours (a chart with axes but no data has none).
 */
export async function chartPixels(page: Page): Promise<{ id: string; drawn: boolean; error: string | null; seriesPixels: number }[]> {
  // A string, not a function: the test's TypeScript loader adds helpers to functions that do not exist in the page.
  return page.evaluate(CHART_PIXELS) as Promise<{ id: string; drawn: boolean; error: string | null; seriesPixels: number }[]>;
}

const CHART_PIXELS = `(() => {
  const data = JSON.parse(document.getElementById('report-data').textContent);
  const rgb = (hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  return [...document.querySelectorAll('[data-chart]')].map((el) => {
    const id = el.dataset.chart;
    const spec = data.charts.find((c) => c.id === id);
    const canvas = el.querySelector('canvas');
    let seriesPixels = 0;
    if (spec && canvas) {
      const px = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      const colors = spec.series.map((s) => rgb(s.color));
      for (let i = 0; i < px.length; i += 4) {
        if (px[i + 3] < 200) continue;
        for (const [r, g, b] of colors) {
          if (Math.abs(px[i] - r) + Math.abs(px[i + 1] - g) + Math.abs(px[i + 2] - b) < 40) { seriesPixels++; break; }
        }
      }
    }
    return { id, drawn: el.dataset.drawn === '1', error: el.dataset.error ?? null, seriesPixels };
  });
})()`;
