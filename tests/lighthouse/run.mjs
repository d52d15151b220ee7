// Lighthouse over a list of pages in one Chromium: the reference UI's budgets
// (tests/test_ui_lighthouse.py, scripts/ui_budgets.py).
//
//   CHROME_PATH=/usr/bin/chromium node tests/lighthouse/run.mjs pages.json > results.json
//
// pages.json: [{"name": "tags", "url": "http://127.0.0.1:8000/r/demo/app", "preset": "mobile"}]
// preset: "mobile" (Lighthouse's default: a phone, simulated slow 4G and CPU) or "desktop".
//
// One Chromium is started for the whole list (starting one per page costs more than the
// audit); each page is audited in a fresh tab with its own storage. The answer is one
// JSON object per page: the three category scores, CLS, LCP and the audits of those
// categories that did not pass.

import fs from 'node:fs';
import * as chromeLauncher from 'chrome-launcher';
import lighthouse, {defaultConfig, desktopConfig} from 'lighthouse';

const CATEGORIES = ['performance', 'accessibility', 'best-practices'];

// Headless, no sandbox (CI runs as root), and nothing that reaches out of the machine.
const CHROME_FLAGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-default-apps',
  '--disable-extensions',
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost',
];

// Waits shortened from Lighthouse's defaults (pages on 127.0.0.1 settle in milliseconds;
// the defaults cost seconds per page), and no screenshots (nothing here reads them).
const SPEED = {
  pauseAfterFcpMs: 250,
  pauseAfterLoadMs: 500,
  networkQuietThresholdMs: 500,
  cpuQuietThresholdMs: 500,
  disableFullPageScreenshot: true,
  skipAudits: ['screenshot-thumbnails', 'final-screenshot', 'full-page-screenshot'],
};

// The performance score is made of its metrics alone (the other audits of the category
// weigh 0): only those are run, with every audit of the other two categories.
const METRICS = ['first-contentful-paint', 'largest-contentful-paint', 'total-blocking-time',
  'cumulative-layout-shift', 'speed-index', 'layout-shifts'];

let audits = null;
async function auditsToRun(base) {
  if (!audits) {
    const {default: full} = await import('lighthouse/core/config/default-config.js');
    const ids = full.categories.accessibility.auditRefs.concat(full.categories['best-practices'].auditRefs).map((r) => r.id);
    audits = [...METRICS, ...ids];
  }
  return audits;
}

function failing(lhr, category) {
  return lhr.categories[category].auditRefs
    .map((ref) => lhr.audits[ref.id])
    .filter((audit) => audit.score !== null && audit.score < 1 && audit.scoreDisplayMode !== 'informative'
      && audit.scoreDisplayMode !== 'manual' && audit.scoreDisplayMode !== 'notApplicable')
    .map((audit) => ({id: audit.id, score: audit.score, title: audit.title, display: audit.displayValue ?? ''}));
}

function summary(page, lhr) {
  const score = (id) => Math.round((lhr.categories[id].score ?? 0) * 100);
  return {
    name: page.name,
    url: page.url,
    preset: page.preset,
    final_url: lhr.finalDisplayedUrl,
    performance: score('performance'),
    accessibility: score('accessibility'),
    best_practices: score('best-practices'),
    cls: lhr.audits['cumulative-layout-shift'].numericValue,
    lcp_ms: lhr.audits['largest-contentful-paint'].numericValue,
    failing: {
      accessibility: failing(lhr, 'accessibility'),
      best_practices: failing(lhr, 'best-practices'),
      performance: failing(lhr, 'performance').filter((a) => a.score < 0.9),
    },
    runtime_error: lhr.runtimeError?.message ?? null,
  };
}

async function main() {
  const pages = JSON.parse(fs.readFileSync(process.argv[2], 'utf-8'));
  const chrome = await chromeLauncher.launch({chromePath: process.env.CHROME_PATH, chromeFlags: CHROME_FLAGS});
  const results = [];
  try {
    for (const page of pages) {
      const base = page.preset === 'desktop' ? desktopConfig : defaultConfig;
      const config = {...base, settings: {...base.settings, ...SPEED, onlyAudits: await auditsToRun(base)}};
      const flags = {port: chrome.port, output: 'json', logLevel: 'error', onlyCategories: CATEGORIES};
      const started = Date.now();
      const runner = await lighthouse(page.url, flags, config);
      if (process.env.LH_TIMING) process.stderr.write(`${page.name} ${page.preset}: ${Date.now() - started} ms\n`);
      results.push(summary(page, runner.lhr));
    }
  } finally {
    await chrome.kill();
  }
  process.stdout.write(JSON.stringify(results, null, 1) + '\n');
}

main().catch((error) => {
  process.stderr.write(`${error.stack ?? error}\n`);
  process.exit(1);
});
