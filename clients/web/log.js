// The results page's own check of the transparency log: hashes and
// verifies an inclusion proof in the browser with WebCrypto SHA-256 (RFC
// 9162 section 2.1.3.2), and reads the protocol out of the leaf's bytes
// (a tally.v1.LogEntry in protobuf's binary form), so that what is shown
// is what was proven, not what a server says about it. Plain JavaScript,
// no dependencies; exposes window.TallyLog (globalThis.TallyLog in Node,
// where tests/transparency/verify_web.mjs checks it against the C++
// library's proofs).
'use strict';

(function (global) {
  const subtle = global.crypto && global.crypto.subtle;

  function fromBase64(text) {
    const binary = global.atob(text || '');
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }

  function toHex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  function equalBytes(a, b) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  async function sha256(...parts) {
    let length = 0;
    for (const part of parts) length += part.length;
    const all = new Uint8Array(length);
    let offset = 0;
    for (const part of parts) {
      all.set(part, offset);
      offset += part.length;
    }
    return new Uint8Array(await subtle.digest('SHA-256', all));
  }

  const LEAF = Uint8Array.of(0);
  const NODE = Uint8Array.of(1);
  const leafHash = (data) => sha256(LEAF, data);
  const nodeHash = (left, right) => sha256(NODE, left, right);

  // RFC 9162 section 2.1.3.2: the root the path leads to from the leaf, or
  // an Error saying why the path cannot be one (wrong length). Indices are
  // Numbers: exact up to 2^53 leaves.
  async function rootFromInclusionProof(index, size, leaf, path) {
    if (!(index < size)) {
      throw new Error(`leaf index ${index} is not below the tree size ${size}`);
    }
    let fn = index;
    let sn = size - 1;
    let r = leaf;
    for (const p of path) {
      if (sn === 0) throw new Error('the proof is too long');
      if (fn % 2 === 1 || fn === sn) {
        r = await nodeHash(p, r);
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      } else {
        r = await nodeHash(r, p);
      }
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
    }
    if (sn !== 0) throw new Error('the proof is too short');
    return r;
  }

  // {ok, root (hex of the root reached), reason}.
  async function verifyInclusion(index, size, leafData, path, root) {
    try {
      const reached =
          await rootFromInclusionProof(index, size, await leafHash(leafData), path);
      const ok = equalBytes(reached, root);
      return {
        ok,
        root: toHex(reached),
        reason: ok ? '' : 'the proof leads to another root',
      };
    } catch (error) {
      return {ok: false, root: '', reason: error.message};
    }
  }

  // ---- protobuf binary ------------------------------------------------------
  // Just enough of the wire format for a LogEntry: varints (as BigInt,
  // exact for 64-bit counts), length-delimited fields; others skipped.

  class Reader {
    constructor(bytes) {
      this.bytes = bytes;
      this.pos = 0;
    }
    done() { return this.pos >= this.bytes.length; }
    varint() {
      let value = 0n;
      let shift = 0n;
      while (true) {
        if (this.pos >= this.bytes.length) throw new Error('truncated varint');
        const byte = this.bytes[this.pos++];
        value |= BigInt(byte & 0x7f) << shift;
        if ((byte & 0x80) === 0) return value;
        shift += 7n;
        if (shift > 63n) throw new Error('varint too long');
      }
    }
    take(length) {
      if (this.pos + length > this.bytes.length) throw new Error('truncated field');
      const out = this.bytes.subarray(this.pos, this.pos + length);
      this.pos += length;
      return out;
    }
    // Calls fn(field, wireType, value) for every field; value is a BigInt
    // (varint) or a Uint8Array (length-delimited).
    fields(fn) {
      while (!this.done()) {
        const tag = Number(this.varint());
        const field = tag >>> 3;
        const type = tag & 7;
        if (type === 0) fn(field, type, this.varint());
        else if (type === 2) fn(field, type, this.take(Number(this.varint())));
        else if (type === 1) this.take(8);
        else if (type === 5) this.take(4);
        else throw new Error(`unsupported wire type ${type}`);
      }
    }
  }

  const text = (bytes) => new TextDecoder().decode(bytes);

  function decodeTimestamp(bytes) {
    const t = {seconds: 0n, nanos: 0};
    new Reader(bytes).fields((f, type, v) => {
      if (f === 1 && type === 0) t.seconds = BigInt.asIntN(64, v);
      if (f === 2 && type === 0) t.nanos = Number(v);
    });
    return t;
  }

  const ACCOUNTING = ['registeredVoters', 'ballotsReceived', 'ballotsIssued',
    'ballotsFound', 'invalid', 'againstAll', 'unusedCancelled'];

  function decodeProtocol(bytes) {
    const p = {contestId: '', stationId: 0, version: 0, accounting: {},
      votes: [], submittedBy: '', digest: new Uint8Array()};
    for (const name of ACCOUNTING) p.accounting[name] = 0n;
    new Reader(bytes).fields((f, type, v) => {
      if (f === 1 && type === 2) p.contestId = text(v);
      else if (f === 2 && type === 0) p.stationId = Number(v);
      else if (f === 3 && type === 0) p.version = Number(v);
      else if (f === 4 && type === 2) {
        new Reader(v).fields((g, t, w) => {
          if (t === 0 && g >= 1 && g <= ACCOUNTING.length) {
            p.accounting[ACCOUNTING[g - 1]] = w;
          }
        });
      } else if (f === 5 && type === 2) {
        const line = {choiceId: '', votes: 0n};
        new Reader(v).fields((g, t, w) => {
          if (g === 1 && t === 2) line.choiceId = text(w);
          if (g === 2 && t === 0) line.votes = w;
        });
        p.votes.push(line);
      } else if (f === 6 && type === 2) p.submittedBy = text(v);
      else if (f === 8 && type === 2) p.digest = v;
    });
    return p;
  }

  // tally.v1.LogEntry from its leaf data.
  function decodeLogEntry(bytes) {
    const entry = {revision: 0n, collectorId: '', collectorSeq: 0n,
      protocol: decodeProtocol(new Uint8Array()), acceptedAt: null};
    new Reader(bytes).fields((f, type, v) => {
      if (f === 1 && type === 0) entry.revision = v;
      else if (f === 2 && type === 2) entry.collectorId = text(v);
      else if (f === 3 && type === 0) entry.collectorSeq = v;
      else if (f === 4 && type === 2) entry.protocol = decodeProtocol(v);
      else if (f === 5 && type === 2) entry.acceptedAt = decodeTimestamp(v);
    });
    return entry;
  }

  global.TallyLog = {
    fromBase64, toHex, sha256, leafHash, nodeHash, rootFromInclusionProof,
    verifyInclusion, decodeLogEntry,
  };
})(typeof window !== 'undefined' ? window : globalThis);
