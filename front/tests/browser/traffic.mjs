// The live traffic view in headless Chromium against a backend answering a
// known mix (0.1, 0.1, 0.3, HTTP 500; always 0.3 for user=developer): the
// versions' answers name their pod (every 8th as a retry's 2nd attempt) and a
// trace, the 500s do not (an abort Envoy made). front links traces to
// http://jaeger.invalid:16686 (TRACES_URL).
// Usage: node traffic.mjs http://127.0.0.1:PORT
import { launch } from './launch.mjs';
import path from 'node:path';

const url = process.argv[2];
const artifacts = process.env.ARTIFACTS || '.';
const browser = await launch();
const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
const fail = async (message) => {
  await page.screenshot({ path: path.join(artifacts, 'traffic-failure.png'), fullPage: true });
  console.error(message);
  await browser.close();
  process.exit(1);
};
const tilesBy = () => page.$$eval('#tiles .tile', (els) => els.map((e) => ({
  label: e.getAttribute('data-label'), colour: getComputedStyle(e).backgroundColor,
  by: e.getAttribute('data-by'), pod: (e.querySelector('.pod') || {}).textContent,
  attempt: (e.querySelector('.attempt') || {}).textContent || '', href: e.getAttribute('href'),
  dashed: getComputedStyle(e).outlineStyle,
})));
try {
  const foreign = [];
  page.on('request', (r) => { if (!r.url().startsWith(url) && !r.url().startsWith('data:')) foreign.push(r.url()); });
  await page.goto(url + '/', { timeout: 20000 });
  await page.click('#traffic-link');
  await page.waitForSelector('#start');
  if (!(await page.isDisabled('#as-user'))) await fail('the user switch is on offer before signing in');
  await page.click('#start');
  await page.waitForFunction(() => document.querySelectorAll('#tiles .tile').length >= 16, null, { timeout: 20000 });
  await page.click('#stop');
  const tiles = await tilesBy();
  const colours = {};
  for (const t of tiles) {
    colours[t.label] = colours[t.label] || new Set();
    colours[t.label].add(t.colour);
  }
  for (const label of ['0.1', '0.3', 'HTTP 500']) {
    if (!colours[label]) await fail(`no ${label} tile: ${JSON.stringify(tiles)}`);
    if (colours[label].size !== 1) await fail(`${label} tiles in several colours`);
  }
  const colourOf = (l) => [...colours[l]][0];
  if (colourOf('HTTP 500') !== 'rgb(214, 69, 69)') await fail(`errors are ${colourOf('HTTP 500')}, not red`);
  if (colourOf('0.1') === colourOf('0.3')) await fail('two versions share a colour');
  // The table's counts and percentages follow the tiles.
  const rows = await page.$$eval('#stats tbody tr', (trs) => trs.map((tr) => ({
    label: tr.getAttribute('data-label'), count: +tr.querySelector('.count').textContent,
    share: parseFloat(tr.querySelector('.share').textContent),
  })));
  const total = rows.reduce((s, r) => s + r.count, 0);
  for (const r of rows) {
    const inTiles = tiles.filter((t) => t.label === r.label).length;
    if (r.count !== inTiles) await fail(`${r.label}: table says ${r.count}, tiles ${inTiles}`);
    if (Math.abs(r.share - (100 * r.count) / total) > 0.06) await fail(`${r.label}: share ${r.share}%`);
  }
  const share = (l) => rows.find((r) => r.label === l).share;
  if (Math.abs(share('0.1') - 50) > 10 || Math.abs(share('0.3') - 25) > 10 || Math.abs(share('HTTP 500') - 25) > 10) {
    await fail(`shares off the 50/25/25 mix: ${JSON.stringify(rows)}`);
  }
  await page.screenshot({ path: path.join(artifacts, 'traffic-mix.png'), fullPage: true });
  console.log(`mix: ${JSON.stringify(rows)}`);

  // Why each went where it went: the pod, a retry's attempt, the mesh's own answers, the trace.
  for (const t of tiles) {
    const want = { '0.1': ['app', 'q7m2z'], '0.3': ['app', 'x2k8p'], 'HTTP 500': ['mesh', 'mesh'] }[t.label];
    if (t.by !== want[0] || t.pod !== want[1]) await fail(`${t.label} tile says ${t.by}/${t.pod}: ${JSON.stringify(t)}`);
    if ((t.by === 'mesh') !== (t.dashed === 'dashed')) await fail(`${t.label}: border ${t.dashed}`);
    if (t.by === 'app' && !/^http:\/\/jaeger\.invalid:16686\/trace\/[0-9a-f]{32}$/.test(t.href || '')) {
      await fail(`${t.label} tile links ${t.href}`);
    }
    if (t.by === 'mesh' && t.href) await fail(`a mesh answer links a trace: ${t.href}`);
  }
  const retried = tiles.filter((t) => t.attempt === '\u00d72');
  if (retried.length < 1 || retried.length > tiles.length / 4) await fail(`retried tiles: ${retried.length} of ${tiles.length}`);
  console.log(`marks: ${tiles.length} tiles, ${retried.length} retried, mesh answers dashed`);

  // Signed in as developer and sending as the user: only the dark launch's 0.3.
  await page.click('#signin');
  await page.fill('#username', 'developer');
  await page.click('#signin-submit');
  await page.waitForSelector('#user');
  await page.check('#as-user');
  await page.click('#start');
  await page.waitForFunction(() => document.querySelectorAll('#tiles .tile').length >= 8, null, { timeout: 20000 });
  await page.click('#stop');
  const dark = await tilesBy();
  if (!dark.every((t) => t.label === '0.3')) await fail(`as developer: ${JSON.stringify(dark)}`);
  await page.screenshot({ path: path.join(artifacts, 'traffic-developer.png'), fullPage: true });
  if (foreign.length) await fail(`requests outside front: ${foreign.join(', ')}`);
  console.log('as developer: all 0.3');
} finally {
  await browser.close();
}
