import type { IncomingMessage, ServerResponse } from 'node:http'
import { gzipSync } from 'node:zlib'
import type { FastifyRequest } from 'fastify'
import { describe, expect, test } from 'vitest'
import { portkeyAuth } from '../../src/fastify/index.js'
import { readCapped } from '../../src/lookup/capped-body.js'
import { KEY_DETAILS_PATH, MAX_CONTROL_PLANE_BODY_BYTES } from '../../src/lookup/control-plane.js'
import { keyRecord } from '../../src/testing/records.js'
import { createVerifier } from '../../src/verifier/create-verifier.js'
import { startFastify } from '../fastify/app.js'
import { startRawServer } from '../support/core-helpers.js'
import { closeAfterTest, expectRejection, send, sleep } from '../support/servers.js'

// Attacks on readCapped() (src/lookup/capped-body.ts), the one capped reader of control-plane answers and of
// the probe: a body past the cap, cut off, dripping, compressed, or with a lying content-length must never
// admit a request. Over HTTP: a real Fastify app in front of a control plane of the test's own (the stub
// cannot misbehave this way), answering the key-details path.

const KEY = 'pk-capped-body-attack-01'
const RECORD = JSON.stringify(keyRecord({ id: 'key_capped' }))
const CAP = MAX_CONTROL_PLANE_BODY_BYTES

/** A stream of `chunks`, counting cancels; `fail` errors it after the chunks instead of closing it. */
function streamOf(chunks: Uint8Array[], fail?: Error) {
  let cancelled = 0
  let at = 0
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (at < chunks.length) controller.enqueue(chunks[at++]!)
      else if (fail) controller.error(fail)
      else controller.close()
    },
    cancel() {
      cancelled++
    },
  })
  return { response: new Response(stream), cancelled: () => cancelled }
}

/** `text` padded with spaces to exactly `bytes` bytes (still the same JSON). */
const padded = (text: string, bytes: number) => text + ' '.repeat(bytes - Buffer.byteLength(text))

describe('attack: readCapped()', () => {
  test('exactly the cap in many chunks is read whole; one byte more is null and the rest cancelled', async () => {
    const body = Buffer.from(padded(RECORD, CAP))
    const pieces = (bytes: Buffer) =>
      Array.from({ length: Math.ceil(bytes.length / 4093) }, (_, i) => bytes.subarray(i * 4093, (i + 1) * 4093))
    const exact = streamOf(pieces(body))
    expect(JSON.parse((await readCapped(exact.response, CAP))!)).toMatchObject({ id: 'key_capped' })
    const over = streamOf([...pieces(body), new Uint8Array([0x20])])
    expect(await readCapped(over.response, CAP)).toBeNull()
    expect(over.cancelled()).toBe(1)
    // One chunk larger than the cap on its own.
    const huge = streamOf([new Uint8Array(CAP + 1)])
    expect(await readCapped(huge.response, CAP)).toBeNull()
  })

  test('a multi-byte character split across chunks decodes whole (no U+FFFD that would change a record)', async () => {
    const bytes = Buffer.from('{"name":"é日本🔑"}')
    const split = streamOf(Array.from(bytes, (b) => new Uint8Array([b])))
    expect(JSON.parse((await readCapped(split.response, CAP))!)).toEqual({ name: 'é日本🔑' })
  })

  test('a stream that errors after a complete record rejects: never the record read so far', async () => {
    const cut = streamOf([Buffer.from(RECORD)], new TypeError('terminated'))
    await expect(readCapped(cut.response, CAP)).rejects.toThrow('terminated')
  })

  test('a cap of 0: an empty body is "", any byte is null', async () => {
    expect(await readCapped(new Response(null), 0)).toBe('')
    expect(await readCapped(streamOf([]).response, 0)).toBe('')
    expect(await readCapped(streamOf([new Uint8Array(1)]).response, 0)).toBeNull()
  })
})

/** A Fastify app guarded by portkeyAuth whose control plane answers every call with `answer`. */
async function appBehind(answer: (req: IncomingMessage, res: ServerResponse) => void, timeoutMs = 1_000) {
  const controlPlane = closeAfterTest(await startRawServer(answer))
  const reached: unknown[] = []
  const app = await startFastify(async (app) => {
    await app.register(portkeyAuth, { controlPlaneUrl: controlPlane.url, timeoutMs })
    app.get('/x', (request: FastifyRequest) => {
      reached.push(request.portkey?.keyId)
      return { keyId: request.portkey?.keyId }
    })
  })
  return { url: app.url, reached }
}

const ask = (url: string) => send(`${url}/x`, { 'x-portkey-api-key': KEY })

describe('attack: control-plane answers that must never admit (over HTTP)', () => {
  test('a complete record, then the connection dropped before the chunked body ends: 503, not admitted', async () => {
    const { url, reached } = await appBehind((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.write(RECORD)
      setTimeout(() => res.socket?.destroy(), 10)
    })
    expectRejection(await ask(url), 503, 'auth_unavailable', [KEY])
    expect(reached).toEqual([])
  })

  test('a complete record, content-length promising more, then the connection dropped: 503, not admitted', async () => {
    const { url, reached } = await appBehind((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(RECORD) + 50 })
      res.write(RECORD)
      setTimeout(() => res.socket?.destroy(), 10)
    })
    expectRejection(await ask(url), 503, 'auth_unavailable', [KEY])
    expect(reached).toEqual([])
  })

  test('a gzip bomb: a small compressed answer (and content-length) that inflates past the cap: 503', async () => {
    const bomb = gzipSync(padded(RECORD, 8 * CAP))
    expect(bomb.length).toBeLessThan(CAP / 16)
    const { url, reached } = await appBehind((_req, res) => {
      res
        .writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': bomb.length })
        .end(bomb)
    })
    expectRejection(await ask(url), 503, 'auth_unavailable', [KEY])
    expect(reached).toEqual([])
  })

  test('a gzip answer exactly at the cap inflated is admitted, one byte over is not', async () => {
    const gzipped = (bytes: number) => (_req: IncomingMessage, res: ServerResponse) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' }).end(gzipSync(padded(RECORD, bytes)))
    }
    const atCap = await appBehind(gzipped(CAP))
    expect((await ask(atCap.url)).json()).toEqual({ keyId: 'key_capped' })
    expect(atCap.reached).toEqual(['key_capped'])
    const over = await appBehind(gzipped(CAP + 1))
    expectRejection(await ask(over.url), 503, 'auth_unavailable', [KEY])
    expect(over.reached).toEqual([])
  })

  test('a body streamed past the cap in small chunks, without a content-length: 503, never admitted', async () => {
    const { url, reached } = await appBehind((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      // The record first: a reader that parsed what it had at the cap would admit.
      res.write(RECORD)
      const piece = Buffer.alloc(8 * 1024, 0x20)
      let sent = Buffer.byteLength(RECORD)
      const pump = () => {
        while (sent <= CAP + piece.length && res.write(piece)) sent += piece.length
        if (sent <= CAP + piece.length) res.once('drain', pump)
        else res.end()
      }
      pump()
    })
    expectRejection(await ask(url), 503, 'auth_unavailable', [KEY])
    expect(reached).toEqual([])
  })

  test('a content-length over the cap with a short, valid body: refused on the header, 503', async () => {
    const { url, reached } = await appBehind((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': CAP + 1 })
      res.write(RECORD)
    })
    expectRejection(await ask(url), 503, 'auth_unavailable', [KEY])
    expect(reached).toEqual([])
  })

  test('a body that drips a byte at a time past timeoutMs: 503 with Retry-After, no late admission', async () => {
    const { url, reached } = await appBehind((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      const bytes = Buffer.from(RECORD)
      let at = 0
      const drip = setInterval(() => {
        if (res.destroyed || at >= bytes.length) {
          clearInterval(drip)
          if (!res.destroyed) res.end()
          return
        }
        res.write(bytes.subarray(at, ++at))
      }, 5)
    }, 150)
    const res = await ask(url)
    expectRejection(res, 503, 'auth_unavailable', [KEY])
    expect(res.headers['retry-after']).toMatch(/^[1-9]\d*$/)
    await sleep(100)
    expect(reached).toEqual([])
  })

  test('the probe: an endless 401 body is cut at its peek size, within the timeout, and the check fails', async () => {
    let closed = false
    const controlPlane = closeAfterTest(
      await startRawServer((req, res) => {
        expect(req.url).toBe(KEY_DETAILS_PATH)
        res.on('close', () => (closed = true))
        res.writeHead(401, { 'content-type': 'application/json' })
        res.write('{"status":"failure","message":"')
        const piece = Buffer.alloc(16 * 1024, 0x61)
        const pump = () => {
          while (!closed && res.write(piece));
          if (!closed) res.once('drain', pump)
        }
        pump()
      }),
    )
    const verifier = closeAfterTest(createVerifier({ controlPlaneUrl: controlPlane.url, timeoutMs: 2_000 }))
    const started = performance.now()
    const result = await verifier.probe()
    expect(performance.now() - started).toBeLessThan(1_500)
    const check = result.checks.find((c) => c.name === 'control plane')!
    expect(check.ok).toBe(false)
    expect(check.detail).toMatch(/body over/)
  })
})
