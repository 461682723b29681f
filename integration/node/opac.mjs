// Drives the gateway's search page (/) in headless Debian chromium with
// puppeteer-core, as a patron would: search, page, open a record, follow
// "where else can I get it". Prints one JSON object with what it saw;
// integration/opac_test.go checks it against the JSON feed.
//
//   node opac.mjs BASE_URL OUT_DIR
import puppeteer from 'puppeteer-core';

const [base, outDir] = process.argv.slice(2);
const origin = new URL(base).origin;
const seen = { requests: [], external: [], consoleErrors: [], pageErrors: [] };
const T = { timeout: 60000 };

const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-dev-shm-usage'],
});
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(60000);
  await page.setViewport({ width: 1100, height: 900 });
  page.on('console', m => { if (m.type() === 'error') seen.consoleErrors.push(m.text()); });
  page.on('pageerror', e => seen.pageErrors.push(String(e)));
  // Every request the page makes is checked: only the gateway's origin (and
  // inline data: URLs) may load; anything else is recorded and refused.
  await page.setRequestInterception(true);
  page.on('request', req => {
    const u = req.url();
    if (u.startsWith('data:')) return req.continue();
    seen.requests.push(u);
    if (new URL(u).origin !== origin) { seen.external.push(u); return req.abort(); }
    // A canned answer with facets shows the page renders them once the
    // federation adds them to /v1/search (the gateway's own has none yet).
    if (u.includes('/v1/search?q=facetprobe')) {
      return req.respond({ status: 200, contentType: 'application/json', body: JSON.stringify({
        query: 'x', total: 1, start: 1, limit: 10, next: null, diagnostics: [],
        records: [{ position: 1, mms_id: '9911', title: 'Probe', authors: [], year: '2020', holdings: [] }],
        facets: { language: [{ value: 'ger', count: 3 }, { value: 'eng', count: 2 }] } }) });
    }
    req.continue();
  });

  await page.goto(base + '/', { waitUntil: 'networkidle0' });
  seen.searchLink = await page.$eval('link[rel=search]', l => [l.type, l.getAttribute('href')]);

  // Keyboard only: Tab to the search box, type, Enter.
  for (let i = 0; i < 6; i++) {
    await page.keyboard.press('Tab');
    if (await page.evaluate(() => document.activeElement && document.activeElement.id === 'q')) { seen.tabToSearch = i + 1; break; }
  }
  await page.keyboard.type('history');
  await page.keyboard.press('Enter');
  await page.waitForSelector('main ol li a', T);
  const results = () => page.$$eval('main ol li', lis => lis.map(li => ({
    title: li.querySelector('a').textContent, href: li.querySelector('a').getAttribute('href'),
    held: (li.querySelector('.held') || {}).textContent || '' })));
  seen.page1 = { heading: await page.$eval('main h2', h => h.textContent), results: await results() };
  await page.screenshot({ path: outDir + '/opac-results.png', fullPage: true });

  // Next page through the answer's `next`.
  await page.click('a[rel=next]');
  await page.waitForFunction(() => /^Results 11/.test((document.querySelector('main h2') || {}).textContent || ''), T);
  seen.page2 = { heading: await page.$eval('main h2', h => h.textContent), results: await results(), hash: await page.evaluate(() => location.hash) };

  // A record that members hold: its live availability and "where else"
  // (a holding whose 852 names the member's IZ record).
  const recordView = () => page.evaluate(() => ({
    title: document.querySelector('main h2').textContent,
    held: (document.querySelector('main .held') || {}).textContent,
    rows: [...document.querySelectorAll('main tbody tr')].map(tr => [...tr.children].map(td => td.textContent)),
    where: [...document.querySelectorAll('main a[href^="#where/"]')].map(a => a.getAttribute('href')),
  }));
  const holders = r => r.held.split(';').length;
  const candidates = [...seen.page1.results, ...seen.page2.results].filter(r => r.held.startsWith('Held by')).sort((a, b) => holders(b) - holders(a));
  for (const r of candidates) {
    await page.goto(base + '/' + r.href, { waitUntil: 'networkidle0' });
    await page.waitForFunction(() => [...document.querySelectorAll('main h2')].some(h => h.textContent === 'Live availability'), T);
    seen.recordHref = r.href;
    seen.record = await recordView();
    if (seen.record.where.length && seen.record.rows.length) break;
  }
  await page.screenshot({ path: outDir + '/opac-record.png', fullPage: true });
  await page.setViewport({ width: 390, height: 844, isMobile: true }); // reloads the page
  await page.waitForFunction(() => [...document.querySelectorAll('main h2')].some(h => h.textContent === 'Live availability'), T);
  await page.screenshot({ path: outDir + '/opac-record-phone.png', fullPage: true });
  seen.phoneOverflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
  await page.setViewport({ width: 1100, height: 900 });
  await page.waitForFunction(() => [...document.querySelectorAll('main h2')].some(h => h.textContent === 'Live availability'), T);

  if (seen.record.where.length) {
    await page.click('main a[href^="#where/"]');
    await page.waitForFunction(() => [...document.querySelectorAll('main h2')].some(h => h.textContent === 'Other members holding it'), T);
    seen.where = await page.evaluate(() => ({
      hash: location.hash,
      here: document.querySelector('main p').textContent,
      others: [...document.querySelectorAll('#network li')].map(e => e.textContent),
      none: document.querySelector('p#network') !== null,
    }));
    await page.screenshot({ path: outDir + '/opac-where.png', fullPage: true });
  }

  // Facets, when an answer has them; and an error shown, not thrown.
  await page.goto(base + '/#q=facetprobe', { waitUntil: 'networkidle0' });
  await page.waitForSelector('aside.facets', T);
  seen.facets = await page.$eval('aside.facets', a => a.textContent);
  await page.goto(base + '/#record/1', { waitUntil: 'networkidle0' });
  await page.waitForFunction(() => document.getElementById('error').textContent !== '', T);
  seen.errorShown = await page.$eval('#error', e => e.textContent);
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
