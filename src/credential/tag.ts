import { randomSipKey, type SipKey, sipHash13 } from '../platform/siphash.js'
import { fingerprint } from './header.js'

// This module is `#credential-tag` on Node, Bun, Deno and any runtime package.json's "imports" does not name;
// the edge bundles (workerd, worker, browser, edge-light) get `./tag-edge.ts`, which adds no code to them.

// Drawn on first use, not when the module loads: Workers refuse random values at a module's top level.
let tagKey: SipKey | undefined

/** Longest credential tagged with SipHash: past about this many characters, Node's SHA-256 is the faster. */
const SIPHASH_MAX = 128

/**
 * A credential's tag: the cache's key for it in this process. For an API key (up to 128 characters),
 * SipHash-1-3-128, a keyed pseudorandom function computed in JavaScript, under a key drawn at random when the
 * first credential is tagged and kept nowhere else; for a longer credential (a JWT), its fingerprint, which
 * Node's SHA-256 makes faster there. Either way no raw credential is a cache key, and nobody can pick two
 * credentials that share an entry: without the key for SipHash (128 bits, 8 characters), by SHA-256's collision
 * resistance for a fingerprint (43 characters: the two kinds never meet). An API key's tag costs a cached request
 * about half the instructions of its fingerprint (whose call alone costs more to set up than SipHash takes), and
 * never leaves the process: Redis keys and revocation messages use the fingerprint.
 */
export function credentialTag(credential: string): string {
  if (credential.length > SIPHASH_MAX) return fingerprint(credential)
  tagKey ??= randomSipKey()
  return sipHash13(tagKey, credential)
}
