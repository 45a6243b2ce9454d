// The results page's verifier (clients/web/log.js) against tally's C++
// library: every inclusion proof of every tree size up to MAX must verify
// with WebCrypto SHA-256, every tampered one must not, and a LogEntry must
// decode to the fields it was made with.
//
//   node verify_web.mjs LOG_JS TRANSPARENCY_VECTORS [MAX]
import {readFileSync} from 'node:fs';
import {spawnSync} from 'node:child_process';
import vm from 'node:vm';

const [logJs, vectors, maxText = '80'] = process.argv.slice(2);
const context = vm.createContext({
  crypto: globalThis.crypto, atob: globalThis.atob, TextDecoder,
  Uint8Array, BigInt, Math, Number, Error, Array, Promise,
});
vm.runInContext(readFileSync(logJs, 'utf8'), context, {filename: logJs});
const log = context.TallyLog;
const failures = [];
const fail = (message) => {
  failures.push(message);
  if (failures.length <= 20) console.error(`MISMATCH ${message}`);
};
const fromHex = (hex) =>
  Uint8Array.from(hex.match(/../g) ?? [], (h) => parseInt(h, 16));

// Leaves as transparency_vectors makes them.
const leaf = (i) => {
  const prefix = new Uint8Array(i % 5).fill(i % 256);
  const digits = new TextEncoder().encode(String(i));
  const out = new Uint8Array(prefix.length + digits.length);
  out.set(prefix);
  out.set(digits, prefix.length);
  return out;
};

const merkle = spawnSync(vectors, ['merkle', maxText], {
  encoding: 'utf8', maxBuffer: 1 << 30,
});
if (merkle.status !== 0) fail(`transparency_vectors merkle exited ${merkle.status}`);
const roots = new Map();
let checked = 0;
for (const line of merkle.stdout.split('\n')) {
  const parts = line.split(' ');
  if (parts[0] === 'root') roots.set(Number(parts[1]), fromHex(parts[2]));
  if (parts[0] !== 'incl') continue;
  const [index, size] = [Number(parts[1]), Number(parts[2])];
  const path = parts[3] === '-' ? [] : parts[3].split(',').map(fromHex);
  const root = roots.get(size);
  const good = await log.verifyInclusion(index, size, leaf(index), path, root);
  if (!good.ok) fail(`leaf ${index} of ${size}: ${good.reason}`);
  const other = await log.verifyInclusion(index, size, leaf(index + 1), path, root);
  if (other.ok) fail(`leaf ${index} of ${size} verifies with other data`);
  if (path.length > 0) {
    const tampered = path.map((h) => h.slice());
    tampered[path.length - 1][0] ^= 1;
    if ((await log.verifyInclusion(index, size, leaf(index), tampered, root)).ok) {
      fail(`leaf ${index} of ${size} verifies with a tampered path`);
    }
    const short = await log.verifyInclusion(index, size, leaf(index),
        path.slice(1), root);
    if (short.ok || !/too short/.test(short.reason)) {
      fail(`leaf ${index} of ${size}: a short path gives "${short.reason}"`);
    }
  }
  ++checked;
}

const formats = JSON.parse(spawnSync(vectors, ['formats'], {encoding: 'utf8'}).stdout);
const entry = log.decodeLogEntry(fromHex(formats.sample_leaf));
const expect = (what, got, want) => {
  if (got !== want) fail(`${what}: decoded ${got}, expected ${want}`);
};
expect('revision', entry.revision, 9007199254740993n);
expect('collector', entry.collectorId, 'collector-astana');
expect('sequence', entry.collectorSeq, 77n);
expect('contest', entry.protocol.contestId, 'mazhilis-list');
expect('station', entry.protocol.stationId, 4711);
expect('version', entry.protocol.version, 2);
expect('found', entry.protocol.accounting.ballotsFound, 901n);
expect('against all', entry.protocol.accounting.againstAll, 30n);
expect('votes', entry.protocol.votes.map((l) => `${l.choiceId}=${l.votes}`).join(),
    'amanat=500,auyl=359');
expect('digest', log.toHex(entry.protocol.digest), formats.sample_leaf_digest);
expect('accepted at', entry.acceptedAt.seconds, 1679250000n);
expect('accepted nanos', entry.acceptedAt.nanos, 250000000);
expect('leaf hash', log.toHex(await log.leafHash(new Uint8Array())),
    '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d');

console.log(`web verifier: checked ${checked} inclusion proofs and a LogEntry`);
if (failures.length > 0) {
  console.error(`${failures.length} differences`);
  process.exit(1);
}
