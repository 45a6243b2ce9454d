#!/usr/bin/python3
"""An independent check of tally's transparency library.

Everything here is written from the specifications, not from tally's code:
RFC 9162 section 2.1 (Merkle tree hash, PATH, SUBPROOF and both
verification algorithms), C2SP signed-note, tlog-checkpoint and
tlog-cosignature, and the byte formats documented in
services/transparency/tree_head.h and totals_digest.h.

  verify_vectors.py --vectors PATH [--max N]

runs `PATH merkle N` (every tree size 1..N, every inclusion and consistency
proof) and `PATH formats`, and compares what tally computed with what this
file computes. Exit 0 when everything agrees, 1 otherwise (each difference
printed).
"""

import argparse
import base64
import functools
import hashlib
import json
import struct
import subprocess
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey, Ed25519PublicKey)
from cryptography.hazmat.primitives import serialization

FAILURES = []


def fail(message):
    FAILURES.append(message)
    if len(FAILURES) <= 20:
        print("MISMATCH " + message, file=sys.stderr)


def sha256(data):
    return hashlib.sha256(data).digest()


# --- RFC 9162 section 2.1 ---------------------------------------------------

def leaf_data(i):
    return bytes([i % 256]) * (i % 5) + str(i).encode()


def hash_leaf(data):
    return sha256(b"\x00" + data)


def hash_children(left, right):
    return sha256(b"\x01" + left + right)


def split_point(n):
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


class Tree:
    def __init__(self, leaves):
        self.leaves = [hash_leaf(d) for d in leaves]

    @functools.lru_cache(maxsize=None)
    def mth(self, lo, hi):
        n = hi - lo
        if n == 0:
            return sha256(b"")
        if n == 1:
            return self.leaves[lo]
        k = split_point(n)
        return hash_children(self.mth(lo, lo + k), self.mth(lo + k, hi))

    def path(self, m, lo, hi):
        """PATH(m, D[lo:hi]), m an absolute index."""
        n = hi - lo
        if n == 1:
            return []
        k = split_point(n)
        if m - lo < k:
            return self.path(m, lo, lo + k) + [self.mth(lo + k, hi)]
        return self.path(m, lo + k, hi) + [self.mth(lo, lo + k)]

    def subproof(self, m, lo, hi, b):
        """SUBPROOF(m, D[lo:hi], b), m a count of leaves from lo."""
        n = hi - lo
        if m == n:
            return [] if b else [self.mth(lo, hi)]
        k = split_point(n)
        if m <= k:
            return self.subproof(m, lo, lo + k, b) + [self.mth(lo + k, hi)]
        return self.subproof(m - k, lo + k, hi, False) + [self.mth(lo, lo + k)]

    def consistency(self, m, n):
        if m == n:
            return []
        return self.subproof(m, 0, n, True)


def verify_inclusion(index, size, leaf, proof, root):
    """RFC 9162 section 2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = hash_children(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = hash_children(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(first, second, first_root, second_root, proof):
    """RFC 9162 section 2.1.4.2, with first == second as the trivial case."""
    if first == second:
        return not proof and first_root == second_root
    if first == 0 or first > second:
        return False
    path = list(proof)
    if first & (first - 1) == 0:
        path = [first_root] + path
    if not path:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = hash_children(c, fr)
            sr = hash_children(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = hash_children(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root


def parse_proof(text):
    return [] if text == "-" else [bytes.fromhex(h) for h in text.split(",")]


def tampered(proof, k):
    out = list(proof)
    h = bytearray(out[k])
    h[0] ^= 1
    out[k] = bytes(h)
    return out


def check_merkle(vectors, max_size):
    tree = Tree([leaf_data(i) for i in range(max_size)])
    counts = {"root": 0, "incl": 0, "cons": 0}
    process = subprocess.Popen([vectors, "merkle", str(max_size)],
                               stdout=subprocess.PIPE, text=True)
    for line in process.stdout:
        parts = line.split()
        kind = parts[0]
        counts[kind] += 1
        if kind == "root":
            size, got = int(parts[1]), parts[2]
            want = tree.mth(0, size)
            if bytes.fromhex(got) != want:
                fail("root of size %d: tally %s, RFC 9162 %s" %
                     (size, got, want.hex()))
            continue
        a, b = int(parts[1]), int(parts[2])
        proof = parse_proof(parts[3])
        if kind == "incl":
            index, size = a, b
            want = tree.path(index, 0, size)
            if proof != want:
                fail("inclusion proof of leaf %d in size %d differs" %
                     (index, size))
            root = tree.mth(0, size)
            leaf = tree.leaves[index]
            if not verify_inclusion(index, size, leaf, proof, root):
                fail("inclusion proof of leaf %d in size %d does not verify"
                     % (index, size))
            for k in range(len(proof)):
                if verify_inclusion(index, size, leaf, tampered(proof, k),
                                    root):
                    fail("tampered inclusion proof %d/%d verifies" %
                         (index, size))
            if size > 1 and verify_inclusion((index + 1) % size, size, leaf,
                                             proof, root):
                fail("inclusion proof of %d/%d verifies at another index" %
                     (index, size))
        else:
            first, second = a, b
            want = tree.consistency(first, second)
            if proof != want:
                fail("consistency proof %d -> %d differs" % (first, second))
            r1, r2 = tree.mth(0, first), tree.mth(0, second)
            if not verify_consistency(first, second, r1, r2, proof):
                fail("consistency proof %d -> %d does not verify" %
                     (first, second))
            for k in range(len(proof)):
                if verify_consistency(first, second, r1, r2,
                                      tampered(proof, k)):
                    fail("tampered consistency proof %d -> %d verifies" %
                         (first, second))
            if first < second and verify_consistency(
                    first, second, tree.mth(0, first - 1) if first > 1 else
                    sha256(b"x"), r2, proof):
                fail("consistency proof %d -> %d verifies from another root"
                     % (first, second))
    if process.wait() != 0:
        fail("transparency_vectors merkle exited %d" % process.returncode)
    want_incl = max_size * (max_size + 1) // 2
    if counts != {"root": max_size, "incl": want_incl, "cons": want_incl}:
        fail("expected %d roots and %d proofs of each kind, got %s" %
             (max_size, want_incl, counts))
    print("merkle: checked %d roots, %d inclusion and %d consistency proofs "
          "against RFC 9162" % (counts["root"], counts["incl"], counts["cons"]))


# --- C2SP formats and tally's signed encodings ------------------------------

def b64(data):
    return base64.b64encode(data).decode()


def key_id(name, sig_type, public_key):
    return sha256(name.encode() + b"\n" + bytes([sig_type]) + public_key)[:4]


def public_raw(private):
    return private.public_key().public_bytes(serialization.Encoding.Raw,
                                             serialization.PublicFormat.Raw)


def ed25519_ok(public_key, signature, message):
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature,
                                                              message)
        return True
    except InvalidSignature:
        return False


def u32(v):
    return struct.pack(">I", v)


def u64(v):
    return struct.pack(">Q", v)


def string(s):
    data = s.encode()
    return u32(len(data)) + data


SCOPE_KINDS = {"SCOPE_KIND_UNSPECIFIED": 1, "SCOPE_KIND_NATIONAL": 1,
               "SCOPE_KIND_REGION": 2, "SCOPE_KIND_DISTRICT": 3}


def totals_entry(t):
    scope = t.get("scope", {})
    kind = SCOPE_KINDS[scope.get("kind", "SCOPE_KIND_UNSPECIFIED")]
    lines = sorted((c["choice_id"].encode(), int(c.get("votes", 0)))
                   for c in t.get("choices", []) if int(c.get("votes", 0)) > 0)
    out = string(t.get("contest_id", "")) + bytes([kind]) + \
        string(scope.get("id", "")) + u32(len(lines))
    for choice, votes in lines:
        out += u32(len(choice)) + choice + u64(votes)
    for field in ("against_all", "invalid", "ballots_cast", "ballots_issued",
                  "registered_voters", "registered_voters_expected"):
        out += u64(int(t.get(field, 0)))
    for field in ("stations_reported", "stations_expected",
                  "stations_with_anomalies"):
        out += u32(int(t.get(field, 0)))
    return out


def totals_digest(totals):
    def sort_key(t):
        scope = t.get("scope", {})
        return (t.get("contest_id", "").encode(),
                SCOPE_KINDS[scope.get("kind", "SCOPE_KIND_UNSPECIFIED")],
                scope.get("id", "").encode())
    out = b"tally.v1.TotalsDigest\n" + u32(len(totals))
    for t in sorted(totals, key=sort_key):
        out += totals_entry(t)
    return sha256(out)


def check_formats(vectors):
    data = json.loads(subprocess.run([vectors, "formats"], check=True,
                                     capture_output=True, text=True).stdout)
    log = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(data["log_seed"]))
    log_pub = public_raw(log)
    if log_pub.hex() != data["log_public_key"]:
        fail("log public key differs from the seed's")
    if sha256(log_pub).hex() != data["log_key_id"]:
        fail("log key id is not SHA-256 of the public key")
    origin = data["origin"]
    if origin != "tally/kz-2023":
        fail("origin %r" % origin)
    vkey = "%s+%s+%s" % (origin, key_id(origin, 1, log_pub).hex(),
                         b64(b"\x01" + log_pub))
    if vkey != data["log_note_verifier_key"]:
        fail("log verifier key %r, expected %r" %
             (data["log_note_verifier_key"], vkey))

    head = data["head"]
    tree = Tree([leaf_data(i) for i in range(13)])
    if head["tree_size"] != 13 or tree.mth(0, 13).hex() != head["root_hash"]:
        fail("tree head root is not the RFC 9162 root of the 13 leaves")
    text = "%s\n%d\n%s\n" % (origin, head["tree_size"],
                             b64(bytes.fromhex(head["root_hash"])))
    if text != data["checkpoint_text"]:
        fail("checkpoint text %r, expected %r" % (data["checkpoint_text"],
                                                 text))
    note = data["checkpoint_note"]
    prefix = text + "\n\u2014 " + origin + " "
    if not note.startswith(prefix) or not note.endswith("\n"):
        fail("checkpoint note is not text, blank line, signature line")
    else:
        signature = base64.b64decode(note[len(prefix):-1], validate=True)
        if signature[:4] != key_id(origin, 1, log_pub):
            fail("checkpoint signature key id")
        if not ed25519_ok(log_pub, signature[4:], text.encode()):
            fail("checkpoint signature does not verify over the note text")
        if log.sign(text.encode()) != signature[4:]:
            fail("checkpoint signature is not the deterministic Ed25519 one")

    witness = Ed25519PrivateKey.from_private_bytes(
        bytes.fromhex(data["witness_seed"]))
    witness_pub = public_raw(witness)
    name = data["witness_name"]
    wkey = "%s+%s+%s" % (name, key_id(name, 4, witness_pub).hex(),
                         b64(b"\x04" + witness_pub))
    if wkey != data["witness_verifier_key"]:
        fail("witness verifier key %r, expected %r" %
             (data["witness_verifier_key"], wkey))
    cosigned = data["cosigned_note"]
    line_prefix = "\u2014 " + name + " "
    if not cosigned.startswith(note) or \
            not cosigned[len(note):].startswith(line_prefix):
        fail("cosigned note is not the checkpoint note plus one line")
    else:
        blob = base64.b64decode(cosigned[len(note) + len(line_prefix):-1],
                                validate=True)
        if len(blob) != 4 + 8 + 64 or blob[:4] != key_id(name, 4,
                                                          witness_pub):
            fail("cosignature is not key id, timestamp, signature")
        timestamp = struct.unpack(">Q", blob[4:12])[0]
        message = ("cosignature/v1\ntime %d\n" % timestamp + text).encode()
        if timestamp != 1700000000 or not ed25519_ok(witness_pub, blob[12:],
                                                     message):
            fail("cosignature does not verify over cosignature/v1 message")

    root = bytes.fromhex(head["root_hash"])
    encoded = (b"tally.v1.TreeHead\x00" + u64(head["revision"]) +
               u64(head["tree_size"]) + root +
               bytes.fromhex(head["totals_digest"]) +
               bytes.fromhex(head["definition_digest"]) +
               struct.pack(">qI", head["seconds"], head["nanos"]))
    if len(encoded) != 142 or encoded.hex() != data["head_bytes"]:
        fail("tree head encoding %s, documented encoding gives %s" %
             (data["head_bytes"], encoded.hex()))
    if data["head_key_id"] != sha256(log_pub).hex():
        fail("signed tree head key id")
    if not ed25519_ok(log_pub, bytes.fromhex(data["head_signature"]),
                      encoded):
        fail("tree head signature does not verify over the documented "
             "encoding")
    if bytes.fromhex(head["definition_digest"]) != sha256(b"definition"):
        fail("definition digest")

    digest = totals_digest(data["totals"]).hex()
    if digest != data["totals_digest"] or digest != head["totals_digest"]:
        fail("totals digest %s, documented encoding gives %s" %
             (data["totals_digest"], digest))
    print("formats: checked the checkpoint, signed note, cosignature, tree "
          "head and totals digest against the specifications")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--vectors", required=True)
    parser.add_argument("--max", type=int, default=300)
    args = parser.parse_args()
    check_merkle(args.vectors, args.max)
    check_formats(args.vectors)
    if FAILURES:
        print("%d differences" % len(FAILURES), file=sys.stderr)
        return 1
    print("no differences")
    return 0


if __name__ == "__main__":
    sys.exit(main())
