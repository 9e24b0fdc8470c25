import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { expect, test } from 'vitest'

// Attack on the tag's key (src/credential/header.ts), drawn on first use: in a process of its own on the built
// package (test/fixtures/tag-key-instance.mjs). Workers refuse random values in a module's global scope, so
// nothing may draw one while the package loads or a verifier is made; a runtime with no Web Crypto must admit
// nothing (no key, no tag: never a fixed or guessable one); two verifiers in one process keep their own entries.

test('no random value is drawn at import or createVerifier(); without Web Crypto nothing is admitted; verifiers apart', async () => {
  const fixture = new URL('../fixtures/tag-key-instance.mjs', import.meta.url)
  const { stdout } = await promisify(execFile)(process.execPath, [fixture.pathname], {
    env: { ...process.env, TAG_KEY: `pk-tag-key-${crypto.randomUUID()}` },
  })
  const seen = JSON.parse(stdout)
  expect(seen.imported.every(([, loaded]: [string, boolean]) => loaded)).toBe(true)
  expect(seen.importDrawn).toEqual([])
  // Refused before any look-up: no status, so the adapters answer 500, never the request's way through.
  expect(seen.withoutCrypto).toEqual({ refused: 'TypeError', status: null })
  expect(seen.askedWithoutCrypto).toBe(0)
  // Web Crypto back: admitted, cached; the second verifier asks on its own; invalidate() on the first only.
  expect([seen.first, seen.again, seen.other, seen.afterInvalidate, seen.otherAfter]).toEqual(
    Array(5).fill({ admitted: 'key_tag' }),
  )
  expect(seen.asked).toBe(3)
})
