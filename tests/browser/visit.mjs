// Opens real TensorBoard in Debian's chromium (headless), visits each tab the
// lecture's workflow uses, checks that it shows the logged content, and saves
// a screenshot of each. Prints one JSON object with what it found; exits 1 if
// a check failed.
//
//   node visit.mjs BASE_URL SCREENSHOT_DIR EXPECTED_JSON
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';

const [base, shotDir, expectedJson] = process.argv.slice(2);
const expected = JSON.parse(expectedJson);
mkdirSync(shotDir, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
});
const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
const results = {};
const failures = [];

// Polls fn() until it returns true (anything else is the reason it is not
// there yet) or the time runs out; returns true or the last reason.
async function until(fn, ms = 60000) {
  const end = Date.now() + ms;
  let last = 'nothing checked';
  while (Date.now() < end) {
    try {
      last = await fn();
      if (last === true) return true;
    } catch (e) { last = e.message; }
    await page.waitForTimeout(500);
  }
  return last;
}

// Visible elements only: dashboards visited earlier stay in the DOM, hidden.
const visible = (loc) => loc.filter({ visible: true });
const visibleText = (text) => visible(page.getByText(text, { exact: true })).count();

async function tab(name, check) {
  await page.goto(`${base}/#${name}`);
  const ok = await until(check);
  results[name] = ok === true ? 'ok' : String(ok);
  if (ok !== true) failures.push(name);
  await page.waitForTimeout(1500); // let charts finish drawing for the screenshot
  await page.screenshot({ path: `${shotDir}/${name}.png` });
}

// TensorBoard's landing page.
await tab('timeseries', async () => {
  const scalars = await visible(page.locator('scalar-card')).count();
  const histos = await visible(page.locator('histogram-card')).count();
  const acc = await visibleText('accuracy');
  return scalars >= 1 && histos >= 1 && acc ? true : `scalar cards=${scalars} histogram cards=${histos}`;
});
await tab('scalars', async () => {
  const cards = await visible(page.locator('tf-scalar-card')).count();
  const lines = await visible(page.locator('tf-scalar-card svg path')).count();
  const tags = (await visibleText('cross_entropy')) && (await visibleText('accuracy'));
  return cards >= 2 && lines > 0 && tags ? true : `cards=${cards} paths=${lines} tags=${tags}`;
});
await tab('images', async () => {
  const loaded = await visible(page.locator('img')).evaluateAll(els => els.filter(e => e.naturalWidth > 0).length);
  const tags = (await visible(page.getByText('input', { exact: true })).count()) &&
               (await visible(page.getByText('conv1/filters')).count());
  return loaded >= 2 && tags ? true : `loaded images=${loaded} tags=${tags}`;
});
// Histogram and distribution tags are grouped by layer (their scope) into
// paginated categories: each layer must have its category, and charts must draw.
async function layerCategories(sample) {
  const missing = [];
  for (const l of expected.layers) if (!(await visibleText(l))) missing.push(l);
  const paths = await visible(page.locator('svg path')).count();
  const card = await visible(page.getByText(sample)).count();
  return !missing.length && paths > 10 && card ? true : `missing categories=${missing} paths=${paths} ${sample}=${card}`;
}
await tab('histograms', () => layerCategories('conv1/activations'));
await tab('distributions', () => layerCategories('conv1/activations'));
await tab('graphs', async () => {
  const labels = await visible(page.locator('svg text')).evaluateAll(els => els.map(e => e.textContent.trim()));
  // A scope node's label text is its name (SVG text may repeat it for the expanded form).
  const missing = expected.layers.filter(l => !labels.some(t => t.replace(/\s/g, '').startsWith(l)));
  return missing.length === 0 ? true : `missing nodes ${missing}; labels: ${labels.slice(0, 20).join(',')}`;
});
await tab('hparams', async () => {
  const rows = await visible(page.getByText(/^sweep\/lr_/)).count();
  return rows >= expected.sessions ? true : `sweep rows=${rows}`;
});
// The HParams dashboard's other two views of the same sessions.
async function hparamsView(label, shot, selector, minimum) {
  await page.getByText(label).click();
  const ok = await until(async () => {
    const n = await visible(page.locator(selector)).count();
    return n >= minimum ? true : `${selector}: ${n}`;
  });
  results[shot] = ok === true ? 'ok' : String(ok);
  if (ok !== true) failures.push(shot);
  await page.waitForTimeout(1000);
  await page.screenshot({ path: `${shotDir}/${shot}.png` });
}
await hparamsView('PARALLEL COORDINATES VIEW', 'hparams_parallel', 'tf-hparams-parallel-coords-plot svg path',
                  expected.sessions);
await hparamsView('SCATTER PLOT MATRIX VIEW', 'hparams_scatter', 'tf-hparams-scatter-plot-matrix-plot svg circle',
                  expected.sessions);

await tab('projector', async () => {
  // The projector is a plugin in nested iframes.
  const fr = page.frames().find(f => f.url().includes('projector_binary'));
  if (!fr) return 'no projector frame yet';
  const pts = (await fr.getByText(/Points:\s*\d+/).allInnerTexts()).join(' ').match(/Points:\s*(\d+)/);
  const runs = (await fr.getByText(/runs? found/).allInnerTexts()).join(' ').match(/(\d+) runs? found/);
  if (!pts || !runs) return 'no point count yet';
  return expected.points.includes(Number(pts[1])) && Number(runs[1]) === expected.projectorRuns
    ? true : `points=${pts[1]} runs=${runs[1]}`;
});

await browser.close();
console.log(JSON.stringify({ results, failures }));
process.exit(failures.length ? 1 : 0);
