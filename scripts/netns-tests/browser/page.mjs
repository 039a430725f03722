// page.mjs: drive the node's page in Debian's chromium (headless) the way a
// person would: open the URL, press Connect, wait for the DHCP lease, ping
// a target, then stay connected (so others can ping us) until told to stop.
//
//   node page.mjs --url https://NODE/#atw1... --ping IP --work DIR --shot FILE.png
//
// Writes DIR/address (the leased address) once bound, DIR/result.json at
// the end; stops when DIR/stop appears (or after --hold seconds). Runs
// inside a namespace with no route out; the browser is started with
// everything that phones home disabled.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const work = args.work;
const hold = Number(args.hold || 60);
const step = (msg) => console.log(`[page] ${new Date().toISOString()} ${msg}`);
const exists = (f) => fs.existsSync(path.join(work, f));

const profile = fs.mkdtempSync(path.join(work, 'chromium-'));
// launchPersistentContext: the only way to give chromium a fresh --user-data-dir.
const context = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  chromiumSandbox: false,
  ignoreHTTPSErrors: true,
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-default-apps',
    '--disable-extensions',
    '--ignore-certificate-errors', // the node's self-signed certificate, for this test only
  ],
  viewport: { width: 1000, height: 900 },
});
const result = { ok: false };
const page = context.pages()[0] || (await context.newPage());
page.on('console', (m) => step(`console: ${m.text()}`));
page.on('pageerror', (e) => step(`page error: ${e.message}`));
try {
  step(`open ${args.url.replace(/#.*/, '#[token]')}`);
  await page.goto(args.url, { timeout: 15000 });
  const url = await page.inputValue('#url');
  if (!/^wss:\/\/[^/]+\/ws\/atw1/.test(url)) throw new Error(`URL not prefilled from the page address: ${url.slice(0, 30)}`);
  await page.click('#connect');
  await page.waitForFunction(() => document.getElementById('address').textContent !== '-', null, { timeout: 30000 });
  result.address = (await page.textContent('#address')).split('/')[0];
  result.gateway = await page.textContent('#gateway');
  step(`leased ${result.address} (gateway ${result.gateway})`);
  fs.writeFileSync(path.join(work, 'address'), `${result.address}\n`);
  if (args.ping) {
    await page.fill('#target', args.ping);
    await page.click('#ping');
    await page.waitForFunction(
      (t) => document.getElementById('log').textContent.includes(`--- ${t}:`),
      args.ping,
      { timeout: 20000 },
    );
    const log = await page.textContent('#log');
    result.rtts = [...log.matchAll(new RegExp(`bytes from ${args.ping.replace(/\./g, '\\.')}: icmp_seq=\\d+ time=([\\d.]+) ms`, 'g'))].map((m) => Number(m[1]));
    step(`ping ${args.ping}: ${result.rtts.length} replies, RTTs ${result.rtts.join(', ')} ms`);
  }
  const deadline = Date.now() + hold * 1000;
  while (!exists('stop') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  result.frames = await page.textContent('#frames');
  result.state = await page.textContent('#state');
  result.ok = true;
} catch (err) {
  result.error = String(err && err.message ? err.message : err);
  step(`failed: ${result.error}`);
} finally {
  if (args.shot) {
    await page.screenshot({ path: args.shot, fullPage: true }).catch((e) => step(`screenshot: ${e.message}`));
    step(`screenshot ${args.shot}`);
  }
  result.log = await page.textContent('#log').catch(() => '');
  fs.writeFileSync(path.join(work, 'result.json'), JSON.stringify(result, null, 2));
  await context.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
process.exit(result.ok ? 0 : 1);
