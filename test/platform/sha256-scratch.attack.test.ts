import { readFileSync } from 'node:fs'
import { describe, expect, test } from 'vitest'

// FAILED when written, passes since (low severity, hardening): the JavaScript SHA-256 keeps its input in module-level scratch
// (`message`, and the last block in `schedule`) after it returns. Where Node's crypto is absent (a Worker,
// Vercel's Edge runtime) fingerprint() hashes every raw credential with it, so the last credential, and the
// tail of the longest one ever hashed (a JWT, say), stay readable in memory for the life of the isolate,
// outside any cache ("no cache ever holds the raw value") and past the request's own strings being collected.
// A heap or core dump, or any bug that reads those buffers, gives them back. Wiping the words it used (and the
// schedule) after each digest costs a fill() per call.
//
// The test loads the built module (npm run build) as it is, with one line appended that exposes the scratch.

async function scratchModule() {
  const source = readFileSync(new URL('../../dist/platform/sha256.js', import.meta.url), 'utf8')
  expect(source).not.toMatch(/^import /m) // self-contained: it can be loaded from a data: URL as is
  const exposed = `${source}\nexport const scratch = () => ({ message, schedule });\n`
  return (await import(`data:text/javascript,${encodeURIComponent(exposed)}`)) as {
    sha256Base64url(data: string): string
    scratch(): { message: Int32Array; schedule: Int32Array }
  }
}

/** The scratch words as the big-endian bytes they were packed from, as Latin-1 text. */
function asText(words: Int32Array): string {
  const bytes = Buffer.alloc(words.length * 4)
  for (let i = 0; i < words.length; i++) bytes.writeInt32BE(words[i] as number, i * 4)
  return bytes.toString('latin1')
}

describe('attack: raw credentials left in the JavaScript hash scratch space', () => {
  test('after hashing a JWT, then a short API key, neither is recoverable from module memory', async () => {
    const module = await scratchModule()
    const jwt = `eyJhbGciOiJSUzI1NiJ9.${'eyJzdWIiOiJ1c2VyLTEifQ'.repeat(20)}.SECRETSIGNATUREsecretsignature0123456789`
    const key = 'pk-live-SECRET-0123456789abcdef'
    module.sha256Base64url(jwt)
    module.sha256Base64url(key)
    const { message, schedule } = module.scratch()
    const memory = asText(message) + asText(schedule)
    expect(
      {
        keyStillThere: memory.includes(key),
        jwtSignatureStillThere: memory.includes('SECRETSIGNATUREsecretsignature'),
      },
      `scratch holds: ${JSON.stringify(memory.replaceAll(key, '<the API key>').replace(/\0+/g, ' ').slice(0, 100))}…`,
    ).toEqual({ keyStillThere: false, jwtSignatureStillThere: false })
  })
})
