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
    const canned = (extra) => req.respond({ status: 200, contentType: 'application/json', body: JSON.stringify(Object.assign({
      query: 'x', total: 1, start: 1, limit: 10, next: null, diagnostics: [],
      records: [{ position: 1, mms_id: '9911', title: 'Probe', authors: [], year: '2020', language: 'fre', holdings: [] }],
      meta: { cache: 'hit', stale: false, as_of: '2026-12-07T01:10:28Z', took_ms: 0 } }, extra)) });
    if (u.includes('q=facetprobe')) {
      return canned({ facets: { language: [{ value: 'ger', count: 3 }, { value: 'eng', count: 2 }], year: [{ value: '2020', count: 1 }] } });
    }
    // A copy served from the cache while it is refreshed, and a federated
    // answer with one target that timed out.
    if (u.includes('q=staleprobe')) {
      return canned({ meta: { cache: 'stale', stale: true, as_of: '2026-12-07T01:10:28Z', took_ms: 0 }, targets: [{ name: 'nz', status: 'ok' }] });
    }
    if (u.includes('q=timeoutprobe')) {
      return canned({ targets: [{ name: 'nz', status: 'ok' }, { name: 'loc', status: 'timeout' }] });
    }
    // A slow record that fails after a newer one was opened.
    if (u.endsWith('/v1/records/9900000000001')) {
      setTimeout(() => req.respond({ status: 503, contentType: 'application/json', headers: { 'Retry-After': '1' },
        body: JSON.stringify({ diagnostics: [{ message: 'slow failure', details: 'from an earlier click' }] }) }), 2500);
      return;
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
  seen.pager = await page.$$eval('nav[aria-label=Pages] > *', xs => xs.map(x => (x.getAttribute('aria-current') ? '[' + x.textContent + ']' : x.textContent)));
  await page.waitForSelector('#facets aside.facets', T);
  seen.liveFacets = await page.$eval('#facets aside.facets', a => a.textContent);
  seen.resultMeta = await page.$$eval('main ol li .meta', xs => xs.map(x => x.textContent));
  await page.screenshot({ path: outDir + '/opac-results.png', fullPage: true });

  // Next page through the answer's `next`.
  await page.click('a[rel=next]');
  await page.waitForFunction(() => /^Results 11/.test((document.querySelector('main h2') || {}).textContent || ''), T);
  seen.page2 = { heading: await page.$eval('main h2', h => h.textContent), results: await results(), hash: await page.evaluate(() => location.hash) };

  // Sorting: the control reorders from the first page, in the fragment and
  // in the feed request.
  const before = seen.requests.length;
  await page.select('#sort', 'date');
  await page.waitForFunction(() => location.hash.includes('sort=date') && /^Results 1–/.test((document.querySelector('main h2') || {}).textContent || ''), T);
  seen.sorted = { hash: await page.evaluate(() => location.hash), requests: seen.requests.slice(before).filter(u => u.includes('/v1/search')),
    years: await page.$$eval('main ol li .meta', xs => xs.map(x => (x.textContent.match(/\b(1[5-9]|20)\d\d\b/) || [''])[0])) };
  await page.select('#sort', '');
  await page.goto(base + '/#q=history&start=11', { waitUntil: 'networkidle0' });
  await page.waitForFunction(() => /^Results 11/.test((document.querySelector('main h2') || {}).textContent || ''), T);

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
  seen.recordFacts = await page.$$eval('main dl > *', xs => xs.map(x => x.textContent));
  seen.back = await page.$eval('main a.back', a => a.getAttribute('href')).catch(() => null);
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
      here: document.querySelector('#here').textContent,
      others: [...document.querySelectorAll('#network li')].map(e => e.textContent),
      none: document.querySelector('p#network') !== null,
    }));
    await page.screenshot({ path: outDir + '/opac-where.png', fullPage: true });
  }

  // The patron's own library comes first once chosen.
  if (seen.record && seen.record.held) {
    const codes = [...seen.record.held.matchAll(/\(([^()]+_INST|[0-9A-Z_]{4,})\)/g)].map(m => m[1]);
    const mine = codes[codes.length - 1];
    if (mine) {
      await page.goto(base + '/' + seen.recordHref, { waitUntil: 'networkidle0' });
      await page.waitForSelector('#mylib option[value="' + mine + '"]', T);
      await page.select('#mylib', mine);
      await page.waitForFunction(m => ((document.querySelector('main .held .mine') || {}).textContent || '').includes(m), T, mine);
      seen.mylib = { chosen: mine, held: await page.$eval('main .held', e => e.textContent) };
      await page.select('#mylib', '');
    }
  }

  // Back to the results the record was opened from.
  if (seen.back) {
    await page.goto(base + '/' + seen.recordHref, { waitUntil: 'networkidle0' });
    await page.waitForSelector('main a.back', T);
    await page.click('main a.back');
    await page.waitForFunction(() => /^Results /.test((document.querySelector('main h2') || {}).textContent || ''), T);
    seen.backHash = await page.evaluate(() => location.hash);
  }

  // Facets, when an answer has them; and an error shown, not thrown.
  await page.goto(base + '/#q=facetprobe', { waitUntil: 'networkidle0' });
  await page.waitForSelector('aside.facets', T);
  seen.facets = await page.$eval('aside.facets', a => a.textContent);
  await page.goto(base + '/#record/1', { waitUntil: 'networkidle0' });
  await page.waitForFunction(() => document.getElementById('error').textContent !== '', T);
  seen.errorShown = await page.$eval('#error', e => e.textContent);

  // A saved copy is not an outage; times are the reader's own.
  await page.emulateTimezone('America/New_York');
  await page.goto(base + '/#q=staleprobe', { waitUntil: 'networkidle0' });
  await page.waitForSelector('main .saved-copy', T);
  seen.staleText = await page.$eval('main', m => m.textContent);
  await page.goto(base + '/#q=timeoutprobe', { waitUntil: 'networkidle0' });
  await page.waitForSelector('main .target-note', T);
  seen.timeoutNote = await page.$eval('main .target-note', e => e.textContent);

  // A slow earlier request does not put its error above a newer record.
  if (seen.recordHref) {
    await page.goto(base + '/#record/9900000000001');
    await page.evaluate(h => { location.hash = h; }, seen.recordHref);
    await page.waitForFunction(() => [...document.querySelectorAll('main h2')].some(h => h.textContent === 'Live availability'), T);
    await new Promise(r => setTimeout(r, 3500)); // the slow answer has come by now
    seen.race = { error: await page.$eval('#error', e => e.textContent), title: await page.$eval('main h2:not(:empty)', h => h.textContent).catch(() => '') };
    seen.race.heading = await page.evaluate(() => [...document.querySelectorAll('main h2')].map(h => h.textContent));
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
