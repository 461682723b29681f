// Drives the staff dashboard in headless Debian Chromium through
// puppeteer-core, as a systems librarian would, and prints what it saw as
// one JSON document on standard output. The Go test
// (../dashboard_test.go) checks it against the simulated Alma.
//
// Usage: node dashboard.mjs CONFIG_JSON
//   {"chromium": "/usr/bin/chromium", "gateway": "http://127.0.0.1:P",
//    "sim": "http://127.0.0.1:Q", "token": "…", "wrong": "…",
//    "mms_id": "99…", "member": "01NET_INST", "out": "/abs/testdata/out"}
//
// Steps: the sign-in page for a browser not signed in; a wrong token; the
// right one; the healthy dashboard; the lookup; a fault injected into the
// simulated Alma's SRU (and traffic until the breaker opens) while the
// page is open; the fault cleared; sign-out. Screenshots of each state go
// to OUT.
import puppeteer from 'puppeteer-core';

const cfg = JSON.parse(process.argv[2] ?? '{}');
const out = {steps: {}};
const shot = async (page, name, full = true) => {
  const path = `${cfg.out}/${name}.png`;
  await page.screenshot({path, fullPage: full});
  (out.screenshots ??= []).push(path);
};

const browser = await puppeteer.launch({
  executablePath: cfg.chromium,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-dev-shm-usage'],
});
try {
  const page = await browser.newPage();
  await page.setViewport({width: 1024, height: 900});
  const text = (sel) => page.$eval(sel, (e) => e.textContent.trim()).catch(() => null);
  const exists = async (sel) => (await page.$(sel)) !== null;

  // 1. Not signed in: the sign-in page, not JSON.
  let resp = await page.goto(cfg.gateway + '/dashboard', {waitUntil: 'load'});
  out.steps.signed_out = {
    status: resp.status(), content_type: resp.headers()['content-type'],
    form: await exists('form#signin input[type=password]'), dashboard: await exists('#ups'),
    cors: resp.headers()['access-control-allow-origin'] ?? null,
  };
  await shot(page, 'dashboard-signin');

  // 2. A wrong token.
  await page.type('#token', cfg.wrong);
  await Promise.all([page.waitForNavigation({waitUntil: 'load'}), page.keyboard.press('Enter')]);
  out.steps.wrong = {form: await exists('form#signin'), message: await text('#message'), dashboard: await exists('#ups'), url: page.url()};

  // 3. The right one, submitted with the keyboard.
  await page.type('#token', cfg.token);
  await Promise.all([page.waitForNavigation({waitUntil: 'load'}), page.keyboard.press('Enter')]);
  await page.waitForFunction(() => Number(document.body.dataset.refreshDone || 0) >= 1, {timeout: 30000});
  const cookies = await browser.cookies();
  const session = cookies.find((c) => c.name === 'gateway_session');
  out.steps.signed_in = {
    url: page.url(), dashboard: await exists('#ups'), who: await text('#who'), verdict: await text('#verdict'),
    cookie: session ? {httpOnly: session.httpOnly, sameSite: session.sameSite, secure: session.secure} : null,
  };

  const readState = () => page.evaluate(() => ({
    verdict: document.getElementById('verdict').textContent.trim(),
    verdict_class: document.getElementById('verdict').className,
    rows: [...document.querySelectorAll('#ups tr')].map((tr) => [...tr.children].map((td) => td.textContent.trim())),
    names: [...document.querySelectorAll('#ups td[data-name]')].map((td) => td.dataset.name),
    charts: Object.fromEntries([...document.querySelectorAll('svg.chart')].map((s) => [s.id, Number(s.dataset.points || 0)])),
    paths: document.querySelectorAll('svg.chart path.series').length,
    refresh: Number(document.body.dataset.refreshDone || 0),
  }));
  // Wait for a few history samples so that the charts have lines.
  await page.waitForFunction(() => Number(document.getElementById('chart-rps').dataset.points || 0) >= 2, {timeout: 30000});
  out.steps.healthy = await readState();
  out.steps.healthy.lookup_top = await page.$eval('#lookup', (f) => f.getBoundingClientRect().top + window.scrollY);
  await shot(page, 'dashboard-healthy');

  // Keyboard: Tab from the top reaches the sign-out button and the lookup box.
  const focused = [];
  await page.focus('body');
  for (let i = 0; i < 12; i++) {
    await page.keyboard.press('Tab');
    focused.push(await page.evaluate(() => document.activeElement && (document.activeElement.id || document.activeElement.tagName)));
  }
  out.steps.keyboard = focused;

  // 4. The lookup, for one member.
  await page.click('#q', {clickCount: 3});
  await page.type('#q', cfg.mms_id);
  await page.select('#member', cfg.member);
  await page.click('#lookup button[type=submit]');
  await page.waitForSelector('#network tbody tr, #local p', {timeout: 30000});
  out.steps.lookup = await page.evaluate(() => ({
    title: document.querySelector('#title h3')?.textContent ?? null,
    holders: [...document.querySelectorAll('#holders tr')].map((tr) => ({
      code: tr.children[0].dataset.code, name: tr.children[0].textContent, items: tr.children[2].textContent, available: tr.children[3].textContent,
    })),
    local: document.querySelector('#local p')?.textContent ?? null,
    network: [...document.querySelectorAll('#network tbody tr')].map((tr) => [...tr.children].map((td) => td.textContent.trim())),
    buttons: document.querySelectorAll('#network button').length,
    status: document.getElementById('lookup-status').textContent,
    network_rows: [...document.querySelectorAll('#network tbody tr')].map((tr) => ({
      code: tr.children[0].dataset.code, holds: tr.children[1].textContent, available: tr.children[2].textContent, button: !!tr.querySelector('button'),
    })),
    // The patron field comes before the buttons that use it.
    patron_above: (() => { const u = document.getElementById('rs-user'), n = document.getElementById('network');
      return u && n ? u.getBoundingClientRect().bottom <= n.getBoundingClientRect().top : null; })(),
  }));
  await shot(page, 'dashboard-lookup');
  // The resource-sharing button: the writes' endpoint, or "unavailable".
  if (out.steps.lookup.buttons > 0) {
    await page.type('#rs-user', 'patron-1');
    await page.evaluate(() => { document.querySelector('#network button').closest('td').id = 'rs-cell'; });
    await page.click('#network button');
    await page.waitForFunction(() => !/Sending/.test(document.getElementById('rs-cell').textContent), {timeout: 30000});
    out.steps.lookup.request = await text('#rs-cell');
  }

  // 5. A fault in Alma's SRU while the page is open.
  const before = await readState();
  await fetch(cfg.sim + '/_sim/faults', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify({endpoint: 'sru', kind: '500'})});
  let alma = '';
  for (let i = 0; i < 40 && alma !== 'failing'; i++) {
    await fetch(cfg.gateway + '/v1/search?q=fault' + i).catch(() => null);
    alma = (await (await fetch(cfg.gateway + '/readyz')).json()).alma;
  }
  const opened = await page.evaluate(() => Number(document.body.dataset.refreshStarted || 0));
  // One refresh that started after the breaker opened.
  await page.waitForFunction((n) => Number(document.body.dataset.refreshDone || 0) > n, {timeout: 30000}, opened);
  const degraded = await readState();
  out.steps.fault = {alma, refreshes_before: before.refresh, refresh_after_open: degraded.refresh, started_when_open: opened, before, after: degraded};
  await shot(page, 'dashboard-degraded');
  await page.setViewport({width: 390, height: 844, isMobile: true});
  await shot(page, 'dashboard-phone');
  out.steps.phone = await page.evaluate(() => ({scroll_width: document.documentElement.scrollWidth, client_width: document.documentElement.clientWidth,
    // Cells that lie (partly) outside the window, or inside a box that
    // hides them behind a sideways scroll.
    clipped: [...document.querySelectorAll('main td')].filter((c) => c.offsetParent !== null && c.getBoundingClientRect().right > window.innerWidth + 1).map((c) => c.closest('table').id || c.closest('tbody').id || 'table').slice(0, 10),
    scrolled: [...document.querySelectorAll('.scroll')].filter((d) => d.offsetParent !== null && d.scrollWidth > d.clientWidth + 1).length,
  }));
  await page.setViewport({width: 1024, height: 900});
  await fetch(cfg.sim + '/_sim/faults', {method: 'DELETE'});

  // 6. Sign-out ends access.
  await Promise.all([page.waitForNavigation({waitUntil: 'load'}), page.click('#signout')]);
  out.steps.signed_out_again = {
    form: await exists('form#signin'), dashboard: await exists('#ups'),
    status_after: await page.evaluate(async () => (await fetch('/v1/status')).status),
  };
  await shot(page, 'dashboard-signed-out');
  // The old cookie, replayed, is refused too.
  if (session) {
    const r = await fetch(cfg.gateway + '/v1/status', {headers: {Cookie: 'gateway_session=' + session.value}});
    out.steps.signed_out_again.replayed = r.status;
  }
} catch (e) {
  out.error = String(e && e.stack || e);
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(out) + '\n');
