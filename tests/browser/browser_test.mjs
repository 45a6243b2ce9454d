#!/usr/bin/env node
// The live results page in a real headless Chromium, against the real
// processes: tally-aggregator, a tally-collector per region, tally-gateway
// serving clients/web. Protocols of a simulated night are sent in two
// phases with `tallyctl submit`; after each phase the page must show the
// same national totals and reporting progress as /v1/results, and after the
// second it must have updated in place (no reload). The page must show the
// transparency log's signed root of /v1/tree-head, and its "check a
// station" must verify a counted station's inclusion proof (and refuse an
// unknown station). The chamber composition on the page (seats by
// nominating party, list and district seats, self-nominated as a row) must
// be the one `tallyctl composition --json` computes. The percentages on the page must be the shares
// /v1/results publishes (rounded half up to two decimals) of the base the
// page names ("party votes + against all"); when every station has
// reported (--regions all), they must be the official percentages of
// --official_result. A page in a browser without EventSource, and one whose
// stream keeps failing, must show the same figures by polling /v1/results.
// The "Warning signs" section must draw the national fingerprint of
// /v1/forensics on its canvas and list exactly the flags of /v1/forensics;
// with --anomaly the night is simulated with that planted anomaly
// (`tallyctl simulate --anomaly`) and its region must be among the flagged.
// Screenshots (desktop and phone) are written to --out_dir.
//
//   node browser_test.mjs --aggregator PATH --collector PATH --tallyctl PATH
//        --gateway PATH --web_dir DIR --out_dir DIR
//        [--official_result deploy/elections/kz-2023.result.json]
//        [--chromium /usr/bin/chromium] [--regions a,b | all]
//        [--anomaly KIND:REGION[:PERCENT]] [--shot_prefix browser_page]
//        [--timeout_s 300] [--keep]
//
// Exits 0 on success, 1 on any failure (with the reason and the tails of the
// child processes' logs), never hangs: every wait has a deadline and an
// overall timer bounds the run. Child processes are killed on every exit.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values: opts } = parseArgs({
  options: {
    aggregator: { type: 'string' },
    collector: { type: 'string' },
    tallyctl: { type: 'string' },
    gateway: { type: 'string' },
    web_dir: { type: 'string' },
    out_dir: { type: 'string', default: '.' },
    official_result: { type: 'string', default: '' },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
    regions: { type: 'string', default: '' },
    anomaly: { type: 'string', default: '' },
    shot_prefix: { type: 'string', default: 'browser_page' },
    timeout_s: { type: 'string', default: '300' },
    keep: { type: 'boolean', default: false },
  },
});

const START_MS = 120_000;    // a process prints its serving line
const SUBMIT_MS = 180_000;   // one phase of tallyctl submit
const SETTLE_MS = 120_000;   // results reach the aggregator / the page
const STOP_MS = 15_000;      // SIGTERM before SIGKILL

class TestFailure extends Error {}
const fail = (message) => { throw new TestFailure(message); };
const log = (...args) => console.log('browser_test:', ...args);

// ---- child processes -------------------------------------------------------

const children = [];

function startProcess(name, command, args, logDir) {
  const logPath = path.join(logDir, `${name}.log`);
  const out = fs.openSync(logPath, 'w');
  const child = spawn(command, args, { stdio: ['ignore', out, out] });
  fs.closeSync(out);
  const entry = { name, child, logPath, exited: null };
  child.on('exit', (code, signal) => { entry.exited = { code, signal }; });
  child.on('error', (error) => { entry.exited = { error }; });
  children.push(entry);
  return entry;
}

const readLog = (entry) => {
  try { return fs.readFileSync(entry.logPath, 'utf8'); } catch { return ''; }
};

const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

// Polls `probe` until it returns a value other than undefined.
async function waitFor(what, timeoutMs, probe, intervalMs = 100) {
  const deadline = Date.now() + timeoutMs;
  let lastError = null;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      if (error instanceof TestFailure) throw error;
      lastError = error;
    }
    if (Date.now() > deadline) {
      fail(`timed out after ${timeoutMs / 1000}s waiting for ${what}` +
          (lastError ? ` (last error: ${lastError.message})` : ''));
    }
    await sleep(intervalMs);
  }
}

// The "serving on HOST:PORT" line every binary prints once it serves.
function servingAddress(entry) {
  return waitFor(`${entry.name} to serve`, START_MS, () => {
    const match = readLog(entry).match(/serving on (\S+?:\d+)/);
    if (match) return match[1];
    if (entry.exited) {
      fail(`${entry.name} exited before serving: ` +
          `${JSON.stringify(entry.exited)}\n${readLog(entry)}`);
    }
    return undefined;
  }, 20);
}

async function stopAll() {
  const running = children.filter((c) => !c.exited);
  for (const c of running) c.child.kill('SIGTERM');
  const deadline = Date.now() + STOP_MS;
  while (running.some((c) => !c.exited) && Date.now() < deadline) {
    await sleep(50);
  }
  for (const c of running) if (!c.exited) c.child.kill('SIGKILL');
}

// The temporary directory of the run (data dirs, logs, protocol files).
let workDir = null;

function killAllNow() {
  for (const c of children) {
    if (!c.exited) {
      try { c.child.kill('SIGKILL'); } catch { /* already gone */ }
    }
  }
}
process.on('exit', killAllNow);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    console.error(`browser_test: FAIL: stopped by ${signal}`);
    killAllNow();
    if (workDir && !opts.keep) fs.rmSync(workDir, { recursive: true, force: true });
    process.exit(1);
  });
}

function runTool(args, timeoutMs) {
  const result = spawnSync(opts.tallyctl, args, {
    encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20,
  });
  if (result.error || result.status !== 0) {
    fail(`tallyctl ${args.join(' ')} failed ` +
        `(${result.error ? result.error.message : `exit ${result.status}`}):\n` +
        `${result.stdout}\n${result.stderr}`);
  }
  return result.stdout;
}

// tallyctl submit in the background (several regions at once).
function submit(name, collector, file, logDir) {
  const entry = startProcess(name, opts.tallyctl,
      ['submit', '--insecure', '--collector', collector, file], logDir);
  return waitFor(`${name} to finish`, SUBMIT_MS, () => {
    if (!entry.exited) return undefined;
    if (entry.exited.code !== 0) {
      fail(`${name} failed: ${JSON.stringify(entry.exited)}\n${readLog(entry)}`);
    }
    return true;
  }, 50);
}

// ---- HTTP ----------------------------------------------------------------

// Accepts both JSON name styles, as the page does.
function camelize(value) {
  if (Array.isArray(value)) return value.map(camelize);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) =>
    [k.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase()), camelize(v)]));
}
const num = (v) => Number(v ?? 0);

// A published share (exact uint64 numerator / denominator) in percent,
// rounded half up to two decimals in integers: what the page must show.
function percentOf(share) {
  const n = BigInt(share?.numerator ?? 0);
  const d = BigInt(share?.denominator ?? 0);
  if (d === 0n) return '';
  const v = (n * 20000n + d) / (2n * d);
  return `${v / 100n}.${(v % 100n).toString().padStart(2, '0')}`;
}

async function getJson(base, pathAndQuery) {
  const response = await fetch(base + pathAndQuery,
      { signal: AbortSignal.timeout(30_000) });
  if (!response.ok) {
    fail(`GET ${pathAndQuery}: HTTP ${response.status} ${await response.text()}`);
  }
  return camelize(await response.json());
}

async function nationalResults(base, contestId) {
  const body = await getJson(base,
      `/v1/results?contest=${encodeURIComponent(contestId)}&scope=national`);
  const result = (body.results || []).find((r) =>
    r.totals && r.totals.contestId === contestId);
  if (!result) fail(`/v1/results has no totals of ${contestId}`);
  return { ...result, revision: num(body.revision) };
}

// ---- the night in two phases -----------------------------------------------

function readProtocols(file) {
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim())
      .map((line) => ({ line, protocol: camelize(JSON.parse(line)) }));
}

// Splits a region's protocols by station: the first half of its stations
// (in reporting order) in phase 1, the rest in phase 2, so every station's
// protocols arrive together.
function splitByStation(protocols) {
  const stations = [...new Set(protocols.map((p) => p.protocol.stationId))];
  const first = new Set(stations.slice(0, Math.ceil(stations.length / 2)));
  return [protocols.filter((p) => first.has(p.protocol.stationId)),
    protocols.filter((p) => !first.has(p.protocol.stationId))];
}

const stationsOf = (protocols, contestId) => new Set(protocols
    .filter((p) => p.protocol.contestId === contestId)
    .map((p) => p.protocol.stationId)).size;

// ---- page checks ----------------------------------------------------------

async function pageState(page) {
  return page.evaluate(() => {
    const data = (id, attr = 'value') =>
      document.getElementById(id)?.dataset[attr];
    const rows = {};
    for (const row of document.querySelectorAll('#national-total [data-choice-id]')) {
      rows[row.dataset.choiceId] = { votes: row.dataset.votes,
        seats: row.dataset.seats, percent: row.dataset.percent };
    }
    const line = (name) =>
      document.querySelector(`#national-total [data-line="${name}"]`)?.dataset.votes;
    return {
      marker: window.__browserTestMarker === true,
      connection: data('connection-status', 'state'),
      revision: Number(data('revision', 'revision')),
      stationsReported: Number(data('stations-reported')),
      stationsExpected: Number(data('stations-expected')),
      contestId: document.getElementById('national-total')?.dataset.contestId,
      rows,
      againstAll: line('against-all'),
      againstAllPercent: document.querySelector(
          '#national-total [data-line="against-all"]')?.dataset.percent,
      shareBase: document.getElementById('list-base')?.dataset.shareBase,
      invalid: line('invalid'),
      seats: document.querySelectorAll('#hemicycle circle').length,
      house: Number(document.getElementById('hemicycle')?.dataset.house),
      assigned: Number(document.getElementById('hemicycle')?.dataset.assigned),
      status: document.getElementById('result-status')?.dataset.status,
      regionsWithResults: document.querySelectorAll(
          '#region-table tr[data-leading]').length,
    };
  });
}

// Waits until the page shows `stations` reported stations, then compares
// every national figure with /v1/results.
async function checkPage(page, base, contestId, stations, house, phase,
    official, connection = 'live') {
  // The caller has waited for /v1/results to count every station of the
  // phase, so these totals are final for it; the page must reach at least
  // their revision (it may lag behind the aggregator by a few events).
  const results = await nationalResults(base, contestId);
  const totals = results.totals;
  let last = null;
  const shown = await waitFor(
      `the page to reach revision ${results.revision} and show ${stations} ` +
      `stations (${phase})`, SETTLE_MS, async () => {
        const s = last = await pageState(page);
        return s.stationsReported === stations && s.connection === connection &&
            s.revision >= results.revision ? s : undefined;
      }, 100).catch((error) => {
        if (last) {
          error.message += `; the page shows revision ${last.revision}, ` +
              `${last.stationsReported} stations, connection ${last.connection}`;
        }
        throw error;
      });
  const problems = [];
  const expect = (what, got, want) => {
    if (String(got) !== String(want)) {
      problems.push(`${what}: page shows ${got}, /v1/results says ${want}`);
    }
  };
  expect('list contest', shown.contestId, contestId);
  expect('stations reported', shown.stationsReported, num(totals.stationsReported));
  expect('stations expected', shown.stationsExpected, num(totals.stationsExpected));
  for (const choice of totals.choices || []) {
    expect(`votes of ${choice.choiceId}`, shown.rows[choice.choiceId]?.votes,
        num(choice.votes));
  }
  expect('against all', shown.againstAll ?? 0, num(totals.againstAll));
  // Percentages: the published shares, of the base the page names; the
  // base is party votes + against all, summed here from the counts.
  expect('share base', shown.shareBase, 'party votes + against all');
  expect('share base of /v1/results', totals.shareBase, 'VOTE_BASE_VALID_VOTES');
  const baseVotes = (totals.choices || []).reduce(
      (sum, c) => sum + BigInt(c.votes ?? 0), BigInt(totals.againstAll ?? 0));
  for (const choice of totals.choices || []) {
    expect(`share denominator of ${choice.choiceId}`,
        choice.share?.denominator ?? '', baseVotes > 0n ? baseVotes : '');
    expect(`percentage of ${choice.choiceId}`,
        shown.rows[choice.choiceId]?.percent, percentOf(choice.share));
  }
  expect('percentage against all', shown.againstAllPercent,
      percentOf(totals.againstAllShare));
  if (official && num(totals.stationsReported) === num(totals.stationsExpected)) {
    for (const [choiceId, percent] of Object.entries(official.percent || {})) {
      expect(`official percentage of ${choiceId}`,
          shown.rows[choiceId]?.percent, percent);
    }
    expect('official percentage against all', shown.againstAllPercent,
        official.againstAllPercent);
  }
  expect('invalid', shown.invalid, num(totals.invalid));
  for (const choice of results.allocation?.choices || []) {
    expect(`list seats of ${choice.choiceId}`,
        shown.rows[choice.choiceId]?.seats, num(choice.seats));
  }
  expect('hemicycle seats', shown.seats, house);
  expect('house size', shown.house, house);
  if (problems.length) {
    fail(`after ${phase} the page disagrees with /v1/results:\n  ` +
        problems.join('\n  '));
  }
  log(`${phase}: page shows ${shown.stationsReported}/${shown.stationsExpected} ` +
      `stations, revision ${shown.revision}, percentages of ` +
      `${shown.shareBase}: ${Object.entries(shown.rows).map(([id, r]) =>
        `${id} ${r.percent}`).join(', ')}, against all ` +
      `${shown.againstAllPercent}, ${shown.assigned}/${shown.house} ` +
      `seats assigned, ${shown.regionsWithResults} regions with results, ` +
      `status ${shown.status}`);
  return shown;
}

// The chamber composition on the page (the seat legend) against `tallyctl
// composition --json`: the same rows (party, list seats, district seats,
// total; self-nominated as its own row), in any order. Retried until they
// agree, as the page and the aggregator settle independently.
async function checkComposition(page, aggregatorAddress) {
  const rowsText = (rows) => rows.map((r) =>
    `${r.party || 'self-nominated'} ${r.list}+${r.district}=${r.seats}`)
      .sort().join(', ');
  let last = null;
  return waitFor('the page to show the composition of tallyctl composition',
      SETTLE_MS, async () => {
        const json = JSON.parse(runTool(['composition', '--insecure',
          '--aggregator', aggregatorAddress, '--json'], 30_000));
        const want = rowsText((json.parties || []).map((r) => ({
          party: r.self_nominated ? '' : r.party_id, list: num(r.list_seats),
          district: num(r.district_seats), seats: num(r.seats) })));
        const shown = rowsText(await page.evaluate(() => [...document
            .querySelectorAll('#seat-legend li:not([data-undecided])')]
            .map((li) => ({ party: li.dataset.selfNominated === 'true' ? '' :
              li.dataset.partyId, list: Number(li.dataset.listSeats),
              district: Number(li.dataset.districtSeats),
              seats: Number(li.dataset.seats) }))));
        const heading = await page.evaluate(() =>
          document.querySelector('#seats-section h2')?.textContent || '');
        last = { want, shown, heading };
        return want === shown && heading.includes('composition') ?
          last : undefined;
      }, 200).catch((error) => {
    if (last) {
      error.message += `; the page shows "${last.shown}" under ` +
          `"${last.heading}", tallyctl composition says "${last.want}"`;
    }
    throw error;
  });
}

// The transparency log on the page: the signed root of /v1/tree-head, and
// "check a station" verifying a proof in the browser.
async function checkLog(page, base, contestId, protocols) {
  const treeHead = await getJson(base, '/v1/tree-head');
  const head = treeHead.signedHead?.head;
  if (!head) fail('/v1/tree-head has no signed head');
  const root = Buffer.from(head.rootHash, 'base64').toString('hex').slice(0, 16);
  let last = null;
  await waitFor(`the page to show signed root ${root}`, SETTLE_MS, async () => {
    const shown = last = await page.evaluate(() => ({
      ...document.getElementById('log-head').dataset,
      text: document.getElementById('log-root').textContent,
    }));
    return shown.root === root && shown.text === root &&
        Number(shown.size) === num(head.treeSize) ? shown : undefined;
  }).catch((error) => {
    error.message += `; the page shows ${JSON.stringify(last)}`;
    throw error;
  });
  const bad = await fetch(`${base}/v1/proof?contest=${encodeURIComponent(contestId)}`);
  if (bad.status !== 400) fail(`/v1/proof without a station: HTTP ${bad.status}, not 400`);

  const check = async (station) => {
    await page.fill('#check-station', String(station));
    await page.click('#check-form button');
    return waitFor(`the check of station ${station}`, SETTLE_MS, async () => {
      const result = await page.evaluate(() => ({
        ...document.getElementById('check-result').dataset,
        text: document.getElementById('check-result').textContent,
      }));
      return result.state === 'verified' || result.state === 'failed' ?
        result : undefined;
    });
  };
  const station = protocols.find((p) => p.protocol.contestId === contestId)
      .protocol.stationId;
  const proven = await check(station);
  if (proven.state !== 'verified' || !proven.text.includes(`Station ${station},`) ||
      !proven.text.includes(root)) {
    fail(`checking station ${station} on the page: ${proven.state}: ${proven.text}`);
  }
  log(`check a station: ${proven.text}`);
  const unknown = await check(4294967295);
  if (unknown.state !== 'failed' || !unknown.text.includes('not in the election')) {
    fail(`checking an unknown station on the page: ${unknown.state}: ${unknown.text}`);
  }
}

// The "Warning signs" section against /v1/forensics at the same moment:
// visible, the national fingerprint drawn (as many cells as /v1/forensics
// has, and painted pixels on the canvas), the caption's station count, the
// plain sentence on what the signs mean, and the flag table holding exactly
// the (scope, kind) pairs of every flagged scope. With a planted anomaly,
// its region must be among the flagged, under its name. Retried until they
// agree: the page refetches the statistics at most every few seconds.
async function checkForensics(page, base, plantedRegion, regionNames) {
  const scopeKey = (scope) => {
    const kind = scope?.kind;
    if (kind === 'SCOPE_KIND_REGION') return `region/${scope.id || ''}`;
    if (kind === 'SCOPE_KIND_DISTRICT') return `district/${scope.id || ''}`;
    return 'national';
  };
  let last = null;
  const result = await waitFor('the warning signs on the page to match ' +
      '/v1/forensics', SETTLE_MS, async () => {
    const api = await getJson(base, '/v1/forensics');
    const f = api.forensics || {};
    const want = (api.flaggedScopes || []).flatMap((s) => (s.flags || [])
        .map((flag) => `${scopeKey(s.scope)} ${flag.kind}`)).sort();
    const shown = await page.evaluate(() => {
      const section = document.getElementById('forensics-section');
      const canvas = document.getElementById('forensics-heatmap');
      const pixels = canvas.getContext('2d')
          .getImageData(0, 0, canvas.width, canvas.height).data;
      // The cells are blue on white: count pixels clearly bluer than grey.
      let painted = 0;
      for (let i = 0; i < pixels.length; i += 4) {
        if (pixels[i + 2] - pixels[i] > 30) painted += 1;
      }
      return {
        hidden: section.hidden,
        flagged: Number(section.dataset.flagged),
        cells: Number(canvas.dataset.cells),
        painted,
        caption: document.getElementById('forensics-caption').textContent,
        sentence: section.querySelector('p').textContent.replace(/\s+/g, ' '),
        noneShown: !document.getElementById('forensics-none').hidden,
        rows: [...document.querySelectorAll('#forensics-table tbody tr')].map(
            (tr) => ({ scope: tr.dataset.scope, kind: tr.dataset.kind,
              where: tr.querySelector('th')?.textContent || '' })),
      };
    });
    const rows = shown.rows.map((r) => `${r.scope} ${r.kind}`).sort();
    last = { shown, want, stations: num(f.stations), cells:
      (f.fingerprint || []).length };
    const ok = !shown.hidden && shown.cells === last.cells &&
        last.cells > 0 && shown.painted > 0 &&
        shown.caption.includes(`${last.stations} stations`) &&
        rows.join(', ') === want.join(', ') &&
        shown.noneShown === (want.length === 0) &&
        (!plantedRegion || want.some((w) => w.startsWith(
            `region/${plantedRegion} `)));
    return ok ? last : undefined;
  }, 250).catch((error) => {
    if (last) {
      error.message += `; /v1/forensics: ${last.stations} stations, ` +
          `${last.cells} cells, flags [${last.want.join(', ')}]; the page: ` +
          `${JSON.stringify(last.shown)}`;
    }
    throw error;
  });
  const { shown } = result;
  const problems = [];
  if (!/not proof/.test(shown.sentence)) {
    problems.push(`no plain sentence that the signs are not proof: "${shown.sentence}"`);
  }
  if (plantedRegion) {
    const name = regionNames.get(plantedRegion) || plantedRegion;
    const row = shown.rows.find((r) => r.scope === `region/${plantedRegion}`);
    if (!row || !row.where.startsWith(name)) {
      problems.push(`the planted region's row is "${row?.where}", not its ` +
          `name "${name}"`);
    }
  }
  if (problems.length) fail(`the warning signs: ${problems.join('; ')}`);
  log(`warning signs: ${result.cells} fingerprint cells (${shown.painted} ` +
      `painted pixels) over ${result.stations} stations; flags: ` +
      `${result.want.join(', ') || 'none'}`);
  return result;
}

// ---- main -----------------------------------------------------------------

// "Decided" on the page against `tallyctl results --json`: every district
// row's data-decided and data-decided-revision are its contest's
// SeatAllocation.decided / decided_revision, the list rows marked decided
// are the choices whose seats are certain, and "seats still open" is the sum
// of seats_open. The districts of the regions sent are complete, so they
// are decided.
async function checkDecided(page, aggregatorAddress, listContestId) {
  let last = null;
  return waitFor('the page to show what is decided as tallyctl does',
      SETTLE_MS, async () => {
        const json = JSON.parse(runTool(['results', '--insecure',
          '--aggregator', aggregatorAddress, '--json'], 30_000));
        const districts = {};
        let open = 0;
        let listDecided = [];
        for (const r of json.results || []) {
          const a = r.allocation;
          if (!a) continue;
          open += num(a.seats_open);
          if (a.scope?.kind === 'SCOPE_KIND_DISTRICT') {
            districts[a.contest_id] =
                `${a.decided === true}@${num(a.decided_revision)}`;
          }
          if (a.contest_id === listContestId) {
            listDecided = (a.choices || []).filter((c) => a.decided === true ||
                (a.range_basis === 'RANGE_BASIS_BALLOT_CAP' &&
                 num(c.min_seats) === num(c.max_seats)))
                .map((c) => c.choice_id).sort();
          }
        }
        const shown = await page.evaluate(() => ({
          districts: Object.fromEntries([...document.querySelectorAll(
              '#district-table tr[data-contest-id]')].map((tr) => [
            tr.dataset.contestId,
            `${tr.dataset.decided}@${tr.dataset.decidedRevision}`])),
          listDecided: [...document.querySelectorAll(
              '#national-total [data-choice-id][data-decided="true"]')]
              .map((row) => row.dataset.choiceId).sort(),
          seatsOpen: document.getElementById('seats-open')?.dataset.seatsOpen,
        }));
        const text = (o) => Object.entries(o).sort()
            .map(([k, v]) => `${k} ${v}`).join(', ');
        last = {
          want: `${text(districts)}; list ${listDecided}; open ${open}`,
          shown: `${text(shown.districts)}; list ${shown.listDecided}; ` +
              `open ${shown.seatsOpen}`,
          decided: Object.values(districts).filter((v) => v.startsWith('true@'))
              .length,
        };
        return last.decided > 0 && last.want === last.shown ? last : undefined;
      }, 200).catch((error) => {
    if (last) {
      error.message += `; the page shows "${last.shown}", tallyctl results ` +
          `says "${last.want}"`;
    }
    throw error;
  });
}

async function main() {
  for (const flag of ['aggregator', 'collector', 'tallyctl', 'gateway', 'web_dir']) {
    if (!opts[flag]) fail(`--${flag} is required`);
    if (!fs.existsSync(opts[flag])) fail(`--${flag} ${opts[flag]} does not exist`);
  }
  if (!fs.existsSync(opts.chromium)) {
    fail(`${opts.chromium} is missing: install Debian's chromium ` +
        '(scripts/install-deps.sh does)');
  }
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (error) {
    fail('playwright-core is not installed in tests/browser/node_modules: ' +
        `run scripts/install-deps.sh (npm ci in tests/browser) (${error.message})`);
  }

  const work = workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tally-browser-'));
  const outDir = path.resolve(opts.out_dir);
  fs.mkdirSync(outDir, { recursive: true });
  let browser = null;
  try {
    const aggregator = startProcess('aggregator', opts.aggregator,
        ['--data_dir', path.join(work, 'aggregator'), '--listen', '127.0.0.1:0',
          '--insecure'],
        work);
    const aggregatorAddress = await servingAddress(aggregator);
    log(`aggregator serving on ${aggregatorAddress}`);

    // The night's protocols, one file per region.
    runTool(['simulate', '--write_dir', path.join(work, 'night'),
      ...(opts.anomaly ? ['--anomaly', opts.anomaly] : [])], 300_000);
    const files = fs.readdirSync(path.join(work, 'night'))
        .filter((f) => f.endsWith('.jsonl'))
        .map((f) => ({ region: f.slice(0, -'.jsonl'.length),
          file: path.join(work, 'night', f) }));
    let chosen;
    if (opts.regions === 'all') {
      chosen = files;
    } else if (opts.regions) {
      const wanted = opts.regions.split(',');
      chosen = files.filter((f) => wanted.includes(f.region));
      if (chosen.length !== wanted.length) fail(`unknown region in ${opts.regions}`);
    } else {
      // The two smallest regions: quick, and more than one region row.
      chosen = files.map((f) => ({ ...f, size: fs.statSync(f.file).size }))
          .sort((a, b) => a.size - b.size).slice(0, 2);
    }
    const planted = opts.anomaly.split(':')[1] || '';
    if (planted && !chosen.some((r) => r.region === planted)) {
      fail(`--anomaly plants in ${planted}, which --regions does not send`);
    }

    const gateway = startProcess('gateway', opts.gateway,
        ['--listen', '127.0.0.1:0', '--upstream', aggregatorAddress,
          '--web_dir', opts.web_dir, '--insecure'], work);
    const base = `http://${await servingAddress(gateway)}`;
    log(`gateway serving on ${base}`);

    const election = await getJson(base, '/v1/election');
    const contests = election.definition?.contests || [];
    const listContest = contests.find((c) => !c.districtId &&
        c.kind === 'CONTEST_KIND_PARTY_LIST') ||
        contests.find((c) => !c.districtId);
    if (!listContest) fail('/v1/election has no national contest');
    // The page's house: every seat but a presidency's.
    const house = contests.filter((c) =>
      c.kind !== 'CONTEST_KIND_PRESIDENTIAL_MAJORITY')
        .reduce((sum, c) => sum + num(c.seats), 0);

    const phases = [[], []];
    for (const region of chosen) {
      const entry = startProcess(`collector-${region.region}`, opts.collector,
          ['--region', region.region, '--data_dir',
            path.join(work, `collector-${region.region}`), '--listen', '127.0.0.1:0',
            '--aggregator', aggregatorAddress, '--insecure'], work);
      region.address = await servingAddress(entry);
      splitByStation(readProtocols(region.file)).forEach((part, i) => {
        const file = path.join(work, `phase${i + 1}-${region.region}.jsonl`);
        fs.writeFileSync(file, part.map((p) => p.line).join('\n') + '\n');
        phases[i].push({ region, file, protocols: part });
      });
    }
    log(`regions ${chosen.map((r) => r.region).join(', ')}; ` +
        `list contest ${listContest.id}; house of ${house} seats`);

    const sendPhase = async (index) => {
      const parts = phases[index];
      await Promise.all(parts.map((p) => submit(
          `submit${index + 1}-${p.region.region}`, p.region.address, p.file, work)));
      return parts.reduce((n, p) => n + stationsOf(p.protocols, listContest.id), 0);
    };
    // The aggregator counts what the collectors forward, asynchronously.
    const settled = (stations, phase) => waitFor(
        `/v1/results to count ${stations} stations (${phase})`, SETTLE_MS,
        async () => {
          const r = await nationalResults(base, listContest.id);
          return num(r.totals.stationsReported) === stations ? r : undefined;
        }, 200);

    const phase1Stations = await sendPhase(0);
    await settled(phase1Stations, 'phase 1');

    browser = await chromium.launch({
      executablePath: opts.chromium,
      headless: true,
      // Root in a container has no user namespaces for the sandbox.
      args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
      timeout: 60_000,
    });
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.setDefaultTimeout(60_000);
    const pageErrors = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (message) => {
      if (message.type() !== 'error') return;
      // The check of an unknown station gets its 404 on purpose.
      if ((message.location()?.url || '').includes('/v1/proof?')) return;
      pageErrors.push(`console: ${message.text()}`);
    });
    await page.goto(base + '/', { waitUntil: 'load', timeout: 60_000 });
    await page.evaluate(() => { window.__browserTestMarker = true; });

    const official = opts.official_result ?
      camelize(JSON.parse(fs.readFileSync(opts.official_result, 'utf8'))) : null;
    const first = await checkPage(page, base, listContest.id, phase1Stations,
        house, 'phase 1', official);
    const shot1 = path.join(outDir, `${opts.shot_prefix}_phase1.png`);
    await page.screenshot({ path: shot1, fullPage: true, animations: 'disabled' });
    log(`screenshot: ${shot1}`);

    const phase2Stations = phase1Stations + await sendPhase(1);
    await settled(phase2Stations, 'phase 2');
    const second = await checkPage(page, base, listContest.id, phase2Stations,
        house, 'phase 2', official);
    if (!second.marker) fail('the page was reloaded: live updates must apply in place');
    if (!(second.revision > first.revision)) {
      fail(`revision did not advance on the page: ${first.revision} -> ${second.revision}`);
    }
    if (!(second.stationsReported > first.stationsReported)) {
      fail('stations reported did not increase on the page');
    }
    const composition = await checkComposition(page, aggregatorAddress);
    log(`composition on the page: ${composition.shown}`);
    const decided = await checkDecided(page, aggregatorAddress,
        listContest.id);
    log(`decided on the page (${decided.decided} districts): ${decided.shown}`);
    await checkLog(page, base, listContest.id,
        phases[1].flatMap((p) => p.protocols)).catch((error) => {
      if (pageErrors.length) {
        error.message += `\nerrors on the page:\n  ${pageErrors.join('\n  ')}`;
      }
      throw error;
    });
    const regionNames = new Map((election.definition?.regions || [])
        .map((r) => [r.id, r.name || r.id]));
    await checkForensics(page, base, planted, regionNames);
    if (pageErrors.length) fail(`errors on the page:\n  ${pageErrors.join('\n  ')}`);
    const shot = path.join(outDir, `${opts.shot_prefix}.png`);
    await page.screenshot({ path: shot, fullPage: true, animations: 'disabled' });
    log(`screenshot: ${shot}`);

    // A phone: one column, nothing wider than the screen.
    const phone = await browser.newContext({
      viewport: { width: 390, height: 844 }, deviceScaleFactor: 2,
      isMobile: true, hasTouch: true,
    });
    const phonePage = await phone.newPage();
    await phonePage.goto(base + '/', { waitUntil: 'load', timeout: 60_000 });
    await checkPage(phonePage, base, listContest.id, phase2Stations, house, 'phone');
    const layout = await phonePage.evaluate(() => {
      const box = (id) => document.getElementById(id).getBoundingClientRect();
      return {
        stacked: box('seats-section').top >= box('list-section').bottom,
        overflow: document.documentElement.scrollWidth - window.innerWidth,
      };
    });
    if (!layout.stacked) fail('on a phone the seats are not below the list results');
    if (layout.overflow > 1) fail(`on a phone the page is ${layout.overflow}px too wide`);
    const phoneShot = path.join(outDir, `${opts.shot_prefix}_phone.png`);
    await phonePage.screenshot({ path: phoneShot, fullPage: true, animations: 'disabled' });
    log(`screenshot: ${phoneShot}`);

    // A browser without EventSource: the page polls /v1/results instead
    // (conditional requests) and shows the same figures.
    const pollingPage = await context.newPage();
    await pollingPage.addInitScript(() => { delete window.EventSource; });
    await pollingPage.goto(base + '/', { waitUntil: 'load', timeout: 60_000 });
    await checkPage(pollingPage, base, listContest.id, phase2Stations, house,
        'polling, without EventSource', official, 'polling');
    // A stream that keeps failing (a proxy that cannot stream): the same.
    const failingPage = await context.newPage();
    await failingPage.route('**/v1/watch**', (route) => route.abort());
    await failingPage.goto(base + '/', { waitUntil: 'load', timeout: 60_000 });
    await checkPage(failingPage, base, listContest.id, phase2Stations, house,
        'polling, the stream failing', official, 'polling');
    log('PASS');
  } catch (error) {
    for (const c of children) {
      const text = readLog(c);
      console.error(`---- ${c.name} (${c.logPath}) ----\n${text.slice(-3000)}`);
    }
    throw error;
  } finally {
    if (browser) await browser.close().catch(() => {});
    await stopAll();
    if (!opts.keep) fs.rmSync(work, { recursive: true, force: true });
  }
}

const overall = setTimeout(() => {
  console.error(`browser_test: FAIL: the whole test took longer than ${opts.timeout_s}s`);
  killAllNow();
  if (workDir && !opts.keep) fs.rmSync(workDir, { recursive: true, force: true });
  process.exit(1);
}, Number(opts.timeout_s) * 1000);

main().then(() => {
  clearTimeout(overall);
  process.exit(0);
}, (error) => {
  console.error(`browser_test: FAIL: ${error instanceof TestFailure ?
    error.message : error.stack}`);
  killAllNow();
  process.exit(1);
});
