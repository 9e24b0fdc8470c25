import { connect } from 'node:net'
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { portkeyAuth } from '../../src/express/index.js'
import { countingLookup } from '../support/core-helpers.js'
import { closeAfterTest, startExpress, WHOAMI } from '../support/servers.js'
import { acceptable } from './acceptable.js'

// The property of parsing.property.test.ts over a real socket: an app, so not a unit test (vitest.config.ts).

describe('the verifier on arbitrary input', () => {
  test('through a real Express app, arbitrary header bytes get 400/401 and only well-formed values are looked up', async () => {
    const fake = countingLookup(() => null)
    const app = closeAfterTest(
      await startExpress((express) => express.use(portkeyAuth({ lookup: fake.lookup })).get(WHOAMI, (_req, res) => res.end())),
    )
    const { port } = new URL(app.url)
    // Header bytes but CR, LF and NUL, which end or break the header line before any app sees it.
    const bytes = fc
      .uint8Array({ minLength: 1, maxLength: 40 })
      .map((array) => array.filter((byte) => byte !== 10 && byte !== 13 && byte !== 0))
    const statuses = new Map<number, number>()
    await fc.assert(
      fc.asyncProperty(bytes, async (value) => {
        const head = Buffer.concat([
          Buffer.from(`GET ${WHOAMI} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\nx-portkey-api-key: `),
          Buffer.from(value),
          Buffer.from('\r\n\r\n'),
        ])
        const reply = await new Promise<string>((resolve, reject) => {
          const socket = connect(Number(port), '127.0.0.1')
          const chunks: Buffer[] = []
          socket.on('data', (chunk) => chunks.push(chunk))
          socket.on('error', reject)
          socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')))
          socket.end(head)
        })
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(reply)?.[1])
        statuses.set(status, (statuses.get(status) ?? 0) + 1)
        // Node's parser answers 400 for bytes it refuses; everything else is the middleware's JSON.
        expect([400, 401]).toContain(status)
        if (!/\r\ncontent-type: application\/json/i.test(reply)) expect(reply).toMatch(/^HTTP\/1\.1 400 Bad Request/)
      }),
      { numRuns: 150 },
    )
    // Whatever reached the look-up was a value readCredential accepts.
    for (const key of fake.keys) expect(acceptable(key)).toBe(true)
    expect(statuses.get(401)).toBeGreaterThan(0)
  })
})
