import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest'
import type { ServerResponse } from 'node:http'
import { ControlPlaneError, ControlPlaneMisconfigured } from '../../src/errors.js'
import {
  controlPlaneLookup,
  controlPlaneVirtualKeyLookup,
  KEY_DETAILS_PATH,
  MAX_CONTROL_PLANE_BODY_BYTES,
} from '../../src/lookup/control-plane.js'
import type { KeyRecord } from '../../src/types.js'
import { type ControlPlaneStub, startControlPlaneStub } from '../../src/testing/control-plane-stub.js'
import { keyRecord } from '../../src/testing/records.js'
import { startRawServer, until } from '../support/core-helpers.js'

const KEY = 'pk-live-control-plane-test'
const RECORD = keyRecord({ id: 'key_cp', organisation_id: 'org_cp', scopes: ['completions.write'] })

let stub: ControlPlaneStub

beforeAll(async () => {
  stub = await startControlPlaneStub()
})

afterAll(async () => {
  await stub.close()
})

beforeEach(() => {
  stub.heal()
  stub.delayMs = 0
  stub.keys.clear()
  stub.keys.set(KEY, RECORD)
  stub.resetCounts()
})

const signal = () => AbortSignal.timeout(5_000)
const lastCall = () => stub.log.at(-1)!

describe('controlPlaneLookup', () => {
  test('GETs the key-details path with the key in x-portkey-api-key and returns the record', async () => {
    const lookup = controlPlaneLookup(stub.url, undefined)
    await expect(lookup(KEY, { signal: signal() })).resolves.toEqual(RECORD)
    expect(stub.calls(KEY_DETAILS_PATH)).toBe(1)
    expect(stub.calls()).toBe(1)
    expect(lastCall()).toMatchObject({ method: 'GET', path: '/v2/api-keys/self/details' })
    expect(lastCall().headers['x-portkey-api-key']).toBe(KEY)
    expect(lastCall().headers.accept).toBe('application/json')
  })

  test('a base URL with a path prefix keeps it', async () => {
    const lookup = controlPlaneLookup(`${stub.url}/portkey`, undefined)
    await lookup(KEY, { signal: signal() }).catch(() => {})
    expect(lastCall().path).toBe('/portkey/v2/api-keys/self/details')
  })

  test('sends no Authorization header when clientAuth is not set', async () => {
    await controlPlaneLookup(stub.url, undefined)(KEY, { signal: signal() })
    expect(lastCall().headers).not.toHaveProperty('authorization')
  })

  test('sends clientAuth verbatim as Authorization when set', async () => {
    await controlPlaneLookup(stub.url, 'Bearer cp-client-secret')(KEY, { signal: signal() })
    expect(lastCall().headers.authorization).toBe('Bearer cp-client-secret')
    expect(lastCall().headers['x-portkey-api-key']).toBe(KEY)
  })

  test('a record under `data` is unwrapped', async () => {
    stub.keys.set(KEY, { data: RECORD } as unknown as KeyRecord)
    await expect(controlPlaneLookup(stub.url, undefined)(KEY, { signal: signal() })).resolves.toEqual(RECORD)
  })

  test('a top-level record that also has a `data` field is kept whole', async () => {
    const withData = { ...RECORD, data: { id: 'other' } } as unknown as KeyRecord
    stub.keys.set(KEY, withData)
    await expect(controlPlaneLookup(stub.url, undefined)(KEY, { signal: signal() })).resolves.toEqual(withData)
  })

  test('an unknown key (the stub answers 401) is null', async () => {
    await expect(controlPlaneLookup(stub.url, undefined)('pk-nobody', { signal: signal() })).resolves.toBeNull()
    expect(stub.calls(KEY_DETAILS_PATH)).toBe(1)
  })

  test('a 404 (wrong path on the control plane) is a misconfiguration, not an unknown key', async () => {
    // The stub answers 404 to any path but its own.
    const lookup = controlPlaneLookup(`${stub.url}/elsewhere`, undefined)(KEY, { signal: signal() })
    await expect(lookup).rejects.toBeInstanceOf(ControlPlaneMisconfigured)
    await expect(lookup).rejects.toThrow(`${stub.url} answered 404 on /elsewhere/v2/api-keys/self/details`)
  })

  test.each<[number]>([[200], [401], [404]])(
    '%i with an HTML page is a misconfiguration, whatever the status',
    async (status) => {
      const server = await startRawServer((_req, res) =>
        res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' }).end('<html>proxy</html>'),
      )
      try {
        const lookup = controlPlaneLookup(server.url, undefined)(KEY, { signal: signal() })
        await expect(lookup).rejects.toBeInstanceOf(ControlPlaneMisconfigured)
        await expect(lookup).rejects.toThrow(`answered ${status} with an HTML page`)
        await expect(
          controlPlaneVirtualKeyLookup(server.url, undefined)('vk', { credential: KEY, signal: signal() }),
        ).rejects.toBeInstanceOf(ControlPlaneMisconfigured)
      } finally {
        await server.close()
      }
    },
  )

  test('a JSON 404 on the virtual-key path is an unknown virtual key (that path answers 404 for one)', async () => {
    const server = await startRawServer((_req, res) =>
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"status":"failure"}'),
    )
    try {
      await expect(
        controlPlaneVirtualKeyLookup(server.url, undefined)('vk', { credential: KEY, signal: signal() }),
      ).resolves.toBeNull()
    } finally {
      await server.close()
    }
  })

  test.each<[number]>([[401], [403]])('%i from a real server is null', async (status) => {
    const server = await startRawServer((_req, res) =>
      res.writeHead(status, { 'content-type': 'application/json' }).end('{"status":"failure"}'),
    )
    try {
      await expect(controlPlaneLookup(server.url, undefined)(KEY, { signal: signal() })).resolves.toBeNull()
    } finally {
      await server.close()
    }
  })

  test.each<[string, 'error' | 'unavailable']>([
    ['500', 'error'],
    ['503', 'unavailable'],
  ])('a %s throws a ControlPlaneError naming the status', async (status, mode) => {
    stub.fail(mode)
    const attempt = controlPlaneLookup(stub.url, undefined)(KEY, { signal: signal() })
    await expect(attempt).rejects.toBeInstanceOf(ControlPlaneError)
    await expect(attempt).rejects.toThrow(status)
  })

  test('a 200 that is not JSON throws a ControlPlaneError', async () => {
    stub.fail('garbled')
    await expect(controlPlaneLookup(stub.url, undefined)(KEY, { signal: signal() })).rejects.toThrow(ControlPlaneError)
  })

  test.each<[string, string]>([
    ['null', 'null'],
    ['{"data":null}', '{"data":null}'],
    ['a number', '42'],
    ['a string', '"ok"'],
  ])('a 200 whose body is %s throws a ControlPlaneError, never "unknown key"', async (_name, body) => {
    const server = await startRawServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(body))
    try {
      await expect(controlPlaneLookup(server.url, undefined)(KEY, { signal: signal() })).rejects.toThrow(ControlPlaneError)
    } finally {
      await server.close()
    }
  })

  test('a reset connection throws', async () => {
    stub.fail('reset')
    await expect(controlPlaneLookup(stub.url, undefined)(KEY, { signal: signal() })).rejects.toThrow()
  })

  test('a refused connection throws', async () => {
    const closed = await startControlPlaneStub()
    const url = closed.url
    await closed.close()
    await expect(controlPlaneLookup(url, undefined)(KEY, { signal: signal() })).rejects.toThrow()
  })

  test('a hang is cut by the signal', async () => {
    stub.fail('hang')
    const started = performance.now()
    await expect(controlPlaneLookup(stub.url, undefined)(KEY, { signal: AbortSignal.timeout(100) })).rejects.toMatchObject({
      name: 'TimeoutError',
    })
    expect(performance.now() - started).toBeLessThan(2_000)
  })

  test('an already aborted signal makes no call', async () => {
    const aborted = AbortSignal.abort()
    await expect(controlPlaneLookup(stub.url, undefined)(KEY, { signal: aborted })).rejects.toThrow()
    expect(stub.calls()).toBe(0)
  })

  test('only one of several failing calls fails when told `times: 1`', async () => {
    stub.fail('unavailable', { times: 1 })
    const lookup = controlPlaneLookup(stub.url, undefined)
    await expect(lookup(KEY, { signal: signal() })).rejects.toThrow(ControlPlaneError)
    await expect(lookup(KEY, { signal: signal() })).resolves.toEqual(RECORD)
    expect(stub.calls(KEY_DETAILS_PATH)).toBe(2)
  })

  test.each([301, 302, 303, 307, 308])(
    'a redirect (%i) is not followed: the key never reaches the other host',
    async (status) => {
      const server = await startRawServer((_req, res) =>
        res.writeHead(status, { location: `${stub.url}${KEY_DETAILS_PATH}` }).end(),
      )
      try {
        await expect(controlPlaneLookup(server.url, undefined)(KEY, { signal: signal() })).rejects.toThrow(/a redirect/)
        expect(stub.calls()).toBe(0)
      } finally {
        await server.close()
      }
    },
  )
})

// Issue 11, item 9: what is read of a control-plane answer is capped, whether it says its length or not.
describe('the cap on control-plane answers', () => {
  const MiB = 1024 * 1024

  /** RECORD as JSON of exactly `bytes` bytes, padded in its `name`. */
  function recordOfSize(bytes: number): string {
    const base = JSON.stringify({ ...RECORD, name: '' })
    const text = JSON.stringify({ ...RECORD, name: 'x'.repeat(bytes - Buffer.byteLength(base)) })
    expect(Buffer.byteLength(text)).toBe(bytes)
    return text
  }

  /** Answers 200 with `body`: with a content-length, or chunked (no length) in 64 KiB pieces. */
  function answer(res: ServerResponse, body: string, framing: 'content-length' | 'chunked'): void {
    if (framing === 'content-length') {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body)
      return
    }
    res.writeHead(200, { 'content-type': 'application/json' })
    const bytes = Buffer.from(body)
    for (let at = 0; at < bytes.length; at += 64 * 1024) res.write(bytes.subarray(at, at + 64 * 1024))
    res.end()
  }

  async function lookUpFrom(body: string, framing: 'content-length' | 'chunked') {
    const server = await startRawServer((_req, res) => answer(res, body, framing))
    try {
      return await controlPlaneLookup(server.url, undefined)(KEY, { signal: signal() })
    } finally {
      await server.close()
    }
  }

  test('is 1 MiB', () => {
    expect(MAX_CONTROL_PLANE_BODY_BYTES).toBe(MiB)
  })

  describe.each<['content-length' | 'chunked']>([['content-length'], ['chunked']])('with %s framing', (framing) => {
    test('a 2 MB record is refused with a ControlPlaneError, never returned', async () => {
      await expect(lookUpFrom(recordOfSize(2 * MiB), framing)).rejects.toThrow(ControlPlaneError)
    })

    test('one byte over the cap is refused', async () => {
      await expect(lookUpFrom(recordOfSize(MAX_CONTROL_PLANE_BODY_BYTES + 1), framing)).rejects.toThrow(ControlPlaneError)
    })

    test('a record of exactly the cap, and one just under it, are returned', async () => {
      await expect(lookUpFrom(recordOfSize(MAX_CONTROL_PLANE_BODY_BYTES), framing)).resolves.toMatchObject({ id: RECORD.id })
      await expect(lookUpFrom(recordOfSize(MAX_CONTROL_PLANE_BODY_BYTES - 100), framing)).resolves.toMatchObject({
        id: RECORD.id,
      })
    })

    test('a virtual-key answer over the cap is refused too', async () => {
      const body = JSON.stringify({ slug: 'openai-prod', ai_provider_name: 'openai', name: 'x'.repeat(2 * MiB) })
      const server = await startRawServer((_req, res) => answer(res, body, framing))
      try {
        const lookup = controlPlaneVirtualKeyLookup(server.url, undefined)
        await expect(lookup('openai-prod', { credential: KEY, signal: signal() })).rejects.toThrow(ControlPlaneError)
      } finally {
        await server.close()
      }
    })
  })

  test('a content-length over the cap is refused before the body comes: the connection is dropped at once', async () => {
    let closed = false
    // Says 2 MB, sends a few bytes and holds the rest: reading the body would wait for the 5 s signal.
    const server = await startRawServer((_req, res) => {
      res.on('close', () => (closed = true))
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': 2 * MiB }).write('{"id":')
    })
    try {
      const attempt = controlPlaneLookup(server.url, undefined)(KEY, { signal: signal() })
      await expect(attempt).rejects.toBeInstanceOf(ControlPlaneError)
      await expect(attempt).rejects.toThrow(/content-length/)
      await until(() => closed)
    } finally {
      await server.close()
    }
  })

  test('an endless chunked answer is cut once past the cap, and the connection dropped', async () => {
    let closed = false
    let sent = 0
    // Streams whitespace-padded JSON for ever, as fast as it is read.
    const server = await startRawServer((_req, res) => {
      res.on('close', () => (closed = true))
      res.writeHead(200, { 'content-type': 'application/json' })
      const piece = Buffer.alloc(64 * 1024, 0x20)
      const pump = () => {
        while (!closed && res.write(piece)) sent += piece.length
        if (!closed) res.once('drain', pump)
      }
      pump()
    })
    try {
      const attempt = controlPlaneLookup(server.url, undefined)(KEY, { signal: signal() })
      await expect(attempt).rejects.toBeInstanceOf(ControlPlaneError)
      await expect(attempt).rejects.toThrow(/larger than/)
      await until(() => closed)
      // Socket buffers hold some, but nowhere near what 5 s of streaming would have pushed.
      expect(sent).toBeLessThan(64 * MiB)
    } finally {
      await server.close()
    }
  })
})
