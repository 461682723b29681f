// Drives @natlibfi/sru-client (pinned in package.json) against an SRU
// server, as a Node application using the gateway would, and prints what the
// client delivered as one JSON document on standard output:
//
//   {"total": 557, "next": 21, "records": ["<record …>…</record>", …], "error": null}
//
// Usage: node sru.mjs URL QUERY [version=2.0] [recordSchema=marcxml]
//                    [maxRecordsPerRequest=N] [retrieveAll=true|false] [startRecord=N]
//
// The Go test (../sru_clients_test.go) checks the document against the
// simulated Alma's own answer.
import sru from '@natlibfi/sru-client';

// The package is CommonJS with a default export.
const createClient = sru.default ?? sru;

const [url, query, ...rest] = process.argv.slice(2);
if (!url || query === undefined) {
  process.stderr.write('usage: node sru.mjs URL QUERY [key=value ...]\n');
  process.exit(2);
}
const opts = {url, recordSchema: 'marcxml'};
let startRecord = 1;
for (const kv of rest) {
  const i = kv.indexOf('=');
  const [k, v] = [kv.slice(0, i), kv.slice(i + 1)];
  switch (k) {
    case 'version': case 'recordSchema': opts[k] = v; break;
    case 'maxRecordsPerRequest': opts[k] = Number(v); break;
    case 'retrieveAll': opts[k] = v === 'true'; break;
    case 'startRecord': startRecord = Number(v); break;
    default:
      process.stderr.write(`unknown option ${k}\n`);
      process.exit(2);
  }
}

const out = {total: null, next: null, records: [], error: null};
const timer = setTimeout(() => {
  out.error = 'timed out after 60s';
  finish(1);
}, 60000);

function finish(code) {
  clearTimeout(timer);
  process.stdout.write(JSON.stringify(out) + '\n', () => process.exit(code));
}

createClient(opts).searchRetrieve(query, {startRecord})
  .on('total', t => { out.total = t; })
  .on('record', r => { out.records.push(r); })
  .on('end', next => {
    out.next = typeof next === 'number' ? next : null;
    finish(0);
  })
  .on('error', err => {
    out.error = String(err && err.message || err);
    finish(0);
  });
