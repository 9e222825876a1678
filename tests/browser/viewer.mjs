// Drives Debian's chromium (headless) through the viewer page the way a person would, saves a
// screenshot of each view, and prints what it saw as one JSON object on stdout. It asserts
// nothing itself: tests/viewer_browser.rs compares what was seen with the Parquet files.
//
//   node viewer.mjs URL SCREENSHOT_DIR '{"runA": "...", "runB": "...", "db": "...", "hardness": "...", "corrupt": "/path/file"}'
//   node viewer.mjs URL SCREENSHOT_DIR '{"mode": "scale"}'
import { chromium } from 'playwright-core';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [url, shots, argJson] = process.argv.slice(2);
const args = JSON.parse(argJson);
const seen = { consoleErrors: [], pageErrors: [] };
const userDataDir = mkdtempSync(join(tmpdir(), 'sqlora-chromium-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1400, height: 900 },
  // The flags that work on these machines (closed network, root, no GPU).
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync'],
});
try {
  const page = context.pages()[0] || await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') seen.consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => seen.pageErrors.push(String(e)));
  if (args.mode === 'scale') await scale(page); else await walkThrough(page);
} finally {
  await context.close();
}
process.stdout.write(JSON.stringify(seen) + '\n');

// A large folder: first render, and the explorer list staying virtual while it scrolls and filters.
async function scale(page) {
  await page.goto(url);
  await page.waitForFunction(() => /^Loaded|could not|bug/.test(document.getElementById('status').textContent), null, { timeout: 60000 });
  seen.status = await page.textContent('#status');
  seen.firstRenderMs = Number(await page.getAttribute('body', 'data-first-render-ms'));
  seen.runs = await page.$$eval('#runs-table tbody tr', (trs) => trs.length);
  await page.click('[data-tab="spider"]');
  seen.count = await page.textContent('#x-count');
  seen.domRows = await page.$$eval('#xlist .xrow', (r) => r.length);
  await page.$eval('#xlist', (l) => { l.scrollTop = l.scrollHeight; l.dispatchEvent(new Event('scroll')); });
  seen.lastRowId = await page.$$eval('#xlist .xrow .id', (ids) => ids.length ? ids[ids.length - 1].textContent : null);
  seen.domRowsAtEnd = await page.$$eval('#xlist .xrow', (r) => r.length);
  const t0 = Date.now();
  await page.fill('#f-text', 'how many');
  seen.filterMs = Date.now() - t0;
  seen.countFiltered = await page.textContent('#x-count');
  await page.screenshot({ path: join(shots, 'scale-spider.png'), fullPage: true });
}

async function walkThrough(page) {
  await page.goto(url);
  // Loaded: the status line says so (or reports a failure; either way it stops saying "Loading").
  await page.waitForFunction(() => /^Loaded|could not|bug/.test(document.getElementById('status').textContent), null, { timeout: 60000 });
  seen.status = await page.textContent('#status');
  seen.firstRenderMs = Number(await page.getAttribute('body', 'data-first-render-ms'));
  seen.files = await page.$$eval('#files li', (lis) => lis.map((l) => l.textContent));

  // Runs table: rows, and each row's cells by column title.
  seen.runs = await page.$$eval('#runs-table tbody tr', (trs) => trs.map((tr) =>
    Object.fromEntries([...tr.querySelectorAll('td')].map((td) => [td.dataset.col, td.textContent]))));
  await page.screenshot({ path: join(shots, 'runs.png'), fullPage: true });
  // Sorting by EX official twice gives the two orders.
  const order = () => page.$$eval('#runs-table tbody tr', (trs) => ({
    run: trs.map((tr) => tr.querySelector('td[data-col="run"]').textContent),
    ex: trs.map((tr) => tr.querySelector('td[data-col="EX official"]').textContent) }));
  const exHeader = '#runs-table th:text-matches("^EX official( [▲▼])?$")';
  await page.click(exHeader);
  seen.sortedDesc = await order();
  await page.click(exHeader);
  seen.sortedAsc = await order();
  const settingColumns = () => page.$$eval('#runs-table th.setting', (ths) => ths.map((t) => t.textContent));
  seen.diffOnlyByDefault = await page.isChecked('#diff-only');
  seen.settingColumnsDefault = await settingColumns();
  seen.headers = await page.$$eval('#runs-table th', (ths) => ths.map((t) => t.textContent));
  seen.firstSettingColumn = await page.$$eval('#runs-table th', (ths) => ths.findIndex((t) => t.classList.contains('setting')));
  await page.uncheck('#diff-only');
  seen.settingColumnsAll = await settingColumns();
  await page.check('#diff-only');
  seen.settingColumnsDiffOnly = await settingColumns();

  await page.click('[data-tab="mmlu"]');
  seen.mmluBars = await page.$$eval('#mmlu-categories svg rect[fill]:not([fill="white"])', (r) => r.length);
  await page.screenshot({ path: join(shots, 'mmlu.png'), fullPage: true });

  await page.click('[data-tab="training"]');
  seen.trainingText = await page.textContent('#training');
  seen.curves = await page.$$eval('#train-chart path.curve', (ps) => ps.map((p) => ({ points: Number(p.dataset.points), d: p.getAttribute('d').length })));
  await page.screenshot({ path: join(shots, 'training.png'), fullPage: true });

  // Kernels: the op table (cells carry their median seconds), and the profiled step.
  await page.click('[data-tab="kernels"]');
  seen.kernelHeaders = await page.$$eval('#kernel-ops thead th', (ths) => ths.map((t) => t.textContent));
  seen.kernelRows = await page.$$eval('#kernel-ops tbody tr', (trs) => trs.map((tr) =>
    [...tr.querySelectorAll('td')].map((td) => td.dataset.medianS || td.textContent)));
  seen.kernelSteps = await page.$$eval('table.kernel-step', (t) => t.length);
  await page.screenshot({ path: join(shots, 'kernels.png'), fullPage: true });

  await page.click('[data-tab="spider"]');
  await page.selectOption('#run-a', args.runA);
  seen.explorerAll = await page.textContent('#x-count');
  await page.selectOption('#f-db', args.db);
  await page.selectOption('#f-hardness', args.hardness);
  seen.explorerFiltered = await page.textContent('#x-count');
  seen.explorerRows = await page.$$eval('#xlist .xrow', (rows) => rows.map((r) => ({
    id: r.querySelector('.id').textContent, db: r.querySelector('.db').textContent, q: r.querySelector('.q').textContent })));
  await page.click('#xlist .xrow >> nth=0');
  seen.detail = await page.textContent('#x-detail');
  if (args.runB) {
    await page.selectOption('#run-b', args.runB);
    seen.explorerPairedColumns = await page.$$eval('#xlist .xrow >> nth=0', (r) => r.length ? r[0].querySelectorAll('.v').length : 0);
  }
  await page.screenshot({ path: join(shots, 'spider.png'), fullPage: true });

  // A corrupt file dropped on the page: a message on the page, nothing blank.
  const bytes = [...readFileSync(args.corrupt)];
  const name = args.corrupt.split('/').pop();
  const dt = await page.evaluateHandle(([b, n]) => {
    const t = new DataTransfer();
    t.items.add(new File([new Uint8Array(b)], n));
    return t;
  }, [bytes, name]);
  await page.dispatchEvent('body', 'drop', { dataTransfer: dt });
  await page.waitForSelector('#files li.error', { timeout: 20000 });
  seen.errorMessages = await page.$$eval('#files li.error', (lis) => lis.map((l) => l.textContent));
  seen.statusAfterDrop = await page.textContent('#status');
  seen.runsAfterDrop = await page.$$eval('#runs-table tbody tr', (trs) => trs.length).catch(() => 0);
  await page.screenshot({ path: join(shots, 'corrupt-drop.png'), fullPage: true });
}
