import { connect } from 'node:net'
import { describe, expect, onTestFinished, test, vi } from 'vitest'
import {
  type ControlPlaneStubOptions,
  KEY_DETAILS_PATH,
  keyRecord,
  startControlPlaneStub,
  VIRTUAL_KEYS_PATH,
  virtualKeyRecord,
} from '../../src/testing/index.js'
import { closeAfterTest, sleep } from '../support/servers.js'

const KEY = 'pk-stub-test-key'

async function useStub(options: ControlPlaneStubOptions = { keys: { [KEY]: keyRecord({ id: 'key_stub' }) } }) {
  return closeAfterTest(await startControlPlaneStub(options))
}

/** GET a path of the stub, as the verifier's look-up does. */
function get(base: string, path: string, key?: string, init: RequestInit = {}) {
  return fetch(base + path, { ...init, headers: key === undefined ? {} : { 'x-portkey-api-key': key } })
}

describe('control-plane stub: answers', () => {
  test('listens on 127.0.0.1 and answers a seeded key with its record', async () => {
    const record = keyRecord({ id: 'key_seeded', scopes: ['logs.read'] })
    const stub = await useStub({ keys: { [KEY]: record } })
    expect(stub.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    const res = await get(stub.url, KEY_DETAILS_PATH, KEY)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/json')
    expect(await res.json()).toStrictEqual(record)
  })

  test.each([
    ['an unknown key', 'pk-nobody'],
    ['no key', undefined],
  ])('answers %s with 401', async (_name, key) => {
    const stub = await useStub()
    const res = await get(stub.url, KEY_DETAILS_PATH, key)
    expect(res.status).toBe(401)
    expect(await res.json()).toStrictEqual({ status: 'failure', message: 'Invalid API Key' })
  })

  test('answers 404 for other paths and other methods', async () => {
    const stub = await useStub()
    expect((await get(stub.url, '/v2/api-keys', KEY)).status).toBe(404)
    expect((await fetch(stub.url + KEY_DETAILS_PATH, { method: 'POST', headers: { 'x-portkey-api-key': KEY } })).status).toBe(404)
    expect(stub.calls()).toBe(2)
  })

  test('keys can be added, changed and deleted while it runs', async () => {
    const stub = await useStub()
    stub.keys.set('pk-new', keyRecord({ id: 'key_new' }))
    expect(await (await get(stub.url, KEY_DETAILS_PATH, 'pk-new')).json()).toMatchObject({ id: 'key_new' })
    stub.keys.set('pk-new', keyRecord({ id: 'key_new', status: 'exhausted' }))
    expect(await (await get(stub.url, KEY_DETAILS_PATH, 'pk-new')).json()).toMatchObject({ status: 'exhausted' })
    stub.keys.delete('pk-new')
    expect((await get(stub.url, KEY_DETAILS_PATH, 'pk-new')).status).toBe(401)
  })

  test('answers a virtual key to a known caller only, and 404 for an unknown slug', async () => {
    const vk = virtualKeyRecord({ slug: 'openai-prod' })
    const stub = await useStub({ keys: { [KEY]: keyRecord() }, virtualKeys: { 'openai-prod': vk } })
    const known = await get(stub.url, `${VIRTUAL_KEYS_PATH}openai-prod`, KEY)
    expect([known.status, await known.json()]).toStrictEqual([200, vk])
    expect((await get(stub.url, `${VIRTUAL_KEYS_PATH}openai-prod`, 'pk-nobody')).status).toBe(401)
    expect((await get(stub.url, `${VIRTUAL_KEYS_PATH}no-such-slug`, KEY)).status).toBe(404)
  })

  test('keyRecord() gives a well-formed active workspace key with a unique id, fields laid over it', () => {
    const [first, second] = [keyRecord(), keyRecord()]
    expect(first).toMatchObject({
      type: 'workspace-service',
      organisation_id: 'org_test',
      workspace_id: 'ws_test',
      status: 'active',
      scopes: ['completions.write'],
      expires_at: null,
    })
    expect(first.id).not.toBe(second.id)
    expect(keyRecord({ id: 'mine', workspace_id: null })).toMatchObject({
      id: 'mine',
      workspace_id: null,
      organisation_id: 'org_test',
    })
  })
})

describe('control-plane stub: counting', () => {
  test('calls(path) counts per path, calls() all, and the log keeps method, path (no query) and headers', async () => {
    const stub = await useStub()
    await get(stub.url, KEY_DETAILS_PATH, KEY)
    await get(stub.url, `${KEY_DETAILS_PATH}?expand=1`, 'pk-nobody')
    await fetch(`${stub.url}/elsewhere`, { method: 'DELETE', headers: { authorization: 'Bearer client-auth' } })
    expect(stub.calls()).toBe(3)
    expect(stub.calls(KEY_DETAILS_PATH)).toBe(2)
    expect(stub.calls('/elsewhere')).toBe(1)
    expect(stub.calls('/never')).toBe(0)
    expect(stub.log.map(({ method, path }) => [method, path])).toEqual([
      ['GET', KEY_DETAILS_PATH],
      ['GET', KEY_DETAILS_PATH],
      ['DELETE', '/elsewhere'],
    ])
    expect(stub.log[0]?.headers['x-portkey-api-key']).toBe(KEY)
    expect(stub.log[2]?.headers.authorization).toBe('Bearer client-auth')

    stub.resetCounts()
    expect([stub.calls(), stub.calls(KEY_DETAILS_PATH), stub.log.length]).toEqual([0, 0, 0])
    await get(stub.url, KEY_DETAILS_PATH, KEY)
    expect([stub.calls(), stub.log.length]).toEqual([1, 1])
  })

  test('the log keeps the latest 1,000 calls', async () => {
    const stub = await useStub()
    for (let batch = 0; batch < 10; batch++) {
      await Promise.all(Array.from({ length: 101 }, (_, i) => get(stub.url, `/call/${batch * 101 + i}`)))
    }
    expect(stub.calls()).toBe(1010)
    expect(stub.log).toHaveLength(1000)
    expect(stub.log.some((call) => call.path === '/call/1009')).toBe(true)
    // Ten of the first batch were dropped.
    expect(stub.log.filter((call) => Number(call.path.slice('/call/'.length)) < 101)).toHaveLength(91)
  })

  test('delayMs holds every answer, and can be changed while it runs', async () => {
    const stub = await useStub({ keys: { [KEY]: keyRecord() }, delayMs: 150 })
    let started = performance.now()
    expect((await get(stub.url, KEY_DETAILS_PATH, KEY)).status).toBe(200)
    expect(performance.now() - started).toBeGreaterThanOrEqual(140)

    stub.delayMs = 0
    started = performance.now()
    await get(stub.url, KEY_DETAILS_PATH, KEY)
    expect(performance.now() - started).toBeLessThan(140)
  })

  test('inFlight and peakInFlight count calls being answered; resetCounts() sets the peak to what is in flight now', async () => {
    const stub = await useStub({ keys: { [KEY]: keyRecord() }, delayMs: 100 })
    const pending = Promise.all(Array.from({ length: 5 }, () => get(stub.url, KEY_DETAILS_PATH, KEY)))
    await vi.waitFor(() => expect(stub.inFlight).toBe(5))
    await pending
    expect([stub.inFlight, stub.peakInFlight]).toEqual([0, 5])

    stub.resetCounts()
    expect(stub.peakInFlight).toBe(0)
    await get(stub.url, KEY_DETAILS_PATH, KEY)
    expect(stub.peakInFlight).toBe(1)
  })
})

describe('control-plane stub: failing on demand', () => {
  test.each([
    ['error', 500, 'application/json'],
    ['unavailable', 503, 'application/json'],
    ['garbled', 200, 'text/html'],
  ] as const)("fail('%s') answers %i with %s", async (mode, status, type) => {
    const stub = await useStub()
    stub.fail(mode)
    const res = await get(stub.url, KEY_DETAILS_PATH, KEY)
    expect(res.status).toBe(status)
    expect(res.headers.get('content-type')).toBe(type)
    const text = await res.text()
    if (mode === 'garbled') expect(() => JSON.parse(text)).toThrow(SyntaxError)
    else expect(JSON.parse(text)).toStrictEqual({ status: 'failure' })
    expect(stub.calls(KEY_DETAILS_PATH)).toBe(1)
  })

  test("fail('reset') drops the connection with no answer", async () => {
    const stub = await useStub()
    stub.fail('reset')
    await expect(get(stub.url, KEY_DETAILS_PATH, KEY)).rejects.toThrow(TypeError)
    await vi.waitFor(() => expect(stub.inFlight).toBe(0))
    expect(stub.calls()).toBe(1)
  })

  test("fail('hang') never answers; the call stays in flight until the client gives up", async () => {
    const stub = await useStub()
    stub.fail('hang')
    const controller = new AbortController()
    const call = get(stub.url, KEY_DETAILS_PATH, KEY, { signal: controller.signal })
    await vi.waitFor(() => expect(stub.inFlight).toBe(1))
    await sleep(50)
    expect(stub.inFlight).toBe(1)
    controller.abort()
    await expect(call).rejects.toThrow(/abort/i)
    await vi.waitFor(() => expect(stub.inFlight).toBe(0))
  })

  test('fail(mode, { times }) fails only the next `times` calls', async () => {
    const stub = await useStub()
    stub.fail('error', { times: 2 })
    const statuses = []
    for (let i = 0; i < 4; i++) statuses.push((await get(stub.url, KEY_DETAILS_PATH, KEY)).status)
    expect(statuses).toEqual([500, 500, 200, 200])
  })

  test.each([{ times: 0 }, { times: -1 }, { rate: 0 }, { rate: 1.5 }])(
    'fail(mode, %o) is a RangeError, not a silent single failure',
    async (options) => {
      const stub = await useStub()
      expect(() => stub.fail('error', options)).toThrow(RangeError)
      expect((await get(stub.url, KEY_DETAILS_PATH, KEY)).status).toBe(200)
    },
  )

  test('fail(mode, { rate }) fails the calls whose random draw falls under the rate', async () => {
    const random = vi.spyOn(Math, 'random')
    onTestFinished(() => random.mockRestore())
    const stub = await useStub()
    stub.fail('unavailable', { rate: 0.3 })
    for (const draw of [0.5, 0.29, 0.3, 0.1, 0.99]) random.mockReturnValueOnce(draw)
    const statuses = []
    for (let i = 0; i < 5; i++) statuses.push((await get(stub.url, KEY_DETAILS_PATH, KEY)).status)
    expect(statuses).toEqual([200, 503, 200, 503, 200])
  })

  test('with both, only failed calls use up `times`', async () => {
    const random = vi.spyOn(Math, 'random')
    onTestFinished(() => random.mockRestore())
    const stub = await useStub()
    stub.fail('error', { rate: 0.5, times: 1 })
    for (const draw of [0.9, 0.9, 0.1, 0.1]) random.mockReturnValueOnce(draw)
    const statuses = []
    for (let i = 0; i < 4; i++) statuses.push((await get(stub.url, KEY_DETAILS_PATH, KEY)).status)
    expect(statuses).toEqual([200, 200, 500, 200])
  })

  test('heal() stops failing; calls made while failing are counted and logged', async () => {
    const stub = await useStub()
    stub.fail('error')
    expect((await get(stub.url, KEY_DETAILS_PATH, KEY)).status).toBe(500)
    expect((await get(stub.url, KEY_DETAILS_PATH, KEY)).status).toBe(500)
    stub.heal()
    expect((await get(stub.url, KEY_DETAILS_PATH, KEY)).status).toBe(200)
    expect(stub.calls(KEY_DETAILS_PATH)).toBe(3)
    expect(stub.log).toHaveLength(3)
  })
})

describe('control-plane stub: admin endpoints (the admin option)', () => {
  const put = (url: string, path: string, body: unknown) =>
    fetch(url + path, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })

  test('off by default: /_stub is a 404, as on Portkey, and changes nothing', async () => {
    const stub = await useStub()
    const res = await put(stub.url, '/_stub/keys/pk-stub-added', keyRecord())
    expect(res.status).toBe(404)
    expect(stub.keys.has('pk-stub-added')).toBe(false)
  })

  test('on: they change the very maps stub.keys and stub.virtualKeys, and are not counted nor failed', async () => {
    const stub = await useStub({ admin: true })
    const record = keyRecord({ id: 'key_added' })
    expect((await put(stub.url, '/_stub/keys/pk-stub-added', record)).status).toBe(201)
    expect(stub.keys.get('pk-stub-added')).toStrictEqual(record)
    stub.virtualKeys.set('openai-set', virtualKeyRecord({ slug: 'openai-set' }))
    stub.fail('error')
    const listed = await (await fetch(`${stub.url}/_stub`)).json()
    expect(listed).toStrictEqual({
      keys: { 'pk-stub-added': record },
      virtualKeys: { 'openai-set': stub.virtualKeys.get('openai-set') },
    })
    expect((await fetch(`${stub.url}/_stub/virtual-keys/openai-set`, { method: 'DELETE' })).status).toBe(200)
    expect(stub.virtualKeys.size).toBe(0)
    expect(stub.calls()).toBe(0)
    expect(stub.log).toHaveLength(0)
  })
})

// Attack (issue 24's review): one malformed request killed the stub (an uncaught URIError), and with the admin
// endpoints on (the stub command), a DNS-rebinding page could still read its virtual keys through the Portkey paths.
describe('control-plane stub: hostile requests', () => {
  /** Exact bytes on a socket: the Host and the target as given. */
  const raw = (url: string, request: string) =>
    new Promise<string>((resolve, reject) => {
      const socket = connect(Number(new URL(url).port), '127.0.0.1')
      let answer = ''
      socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')))
      socket.on('error', reject)
      socket.on('end', () => resolve(answer))
      socket.write(request)
    })

  test('a malformed percent-encoding in a virtual-key path is a 404, and the stub goes on', async () => {
    const stub = await useStub()
    const host = new URL(stub.url).host
    const answer = await raw(
      stub.url,
      `GET /v2/virtual-keys/%E0%A4%A HTTP/1.1\r\nHost: ${host}\r\nx-portkey-api-key: a.b.c\r\nConnection: close\r\n\r\n`,
    )
    expect(answer).toMatch(/^HTTP\/1\.1 404 /)
    expect((await get(stub.url, KEY_DETAILS_PATH, KEY)).status).toBe(200)
  })

  test('a target no URL parser takes is a 400, and the stub goes on', async () => {
    const stub = await useStub({ admin: true, keys: { [KEY]: keyRecord() } })
    const host = new URL(stub.url).host
    const answer = await raw(stub.url, `GET http://[bad/x HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`)
    expect(answer).toMatch(/^HTTP\/1\.1 400 /)
    expect((await get(stub.url, KEY_DETAILS_PATH, KEY)).status).toBe(200)
  })

  test('with the admin endpoints on, a foreign Host is refused on every path, the Portkey ones too', async () => {
    const stub = await useStub({ admin: true })
    stub.virtualKeys.set('openai-demo', virtualKeyRecord({ slug: 'openai-demo' }))
    for (const target of ['/v2/virtual-keys/openai-demo', KEY_DETAILS_PATH, '/_stub']) {
      const answer = await raw(
        stub.url,
        `GET ${target} HTTP/1.1\r\nHost: rebind.attacker.example\r\nx-portkey-api-key: a.b.c\r\nConnection: close\r\n\r\n`,
      )
      expect(answer, target).toMatch(/^HTTP\/1\.1 403 /)
      expect(answer, target).not.toContain('openai')
    }
  })

  test('with the admin endpoints on, a cross-site request (Sec-Fetch-Site) is refused, even a GET', async () => {
    const stub = await useStub({ admin: true })
    const host = new URL(stub.url).host
    const answer = await raw(
      stub.url,
      `GET /_stub HTTP/1.1\r\nHost: ${host}\r\nSec-Fetch-Site: cross-site\r\nConnection: close\r\n\r\n`,
    )
    expect(answer).toMatch(/^HTTP\/1\.1 403 /)
  })
})

describe('control-plane stub: close', () => {
  test('close() drops hanging calls at once, and the port stops answering', async () => {
    const stub = await startControlPlaneStub({ keys: { [KEY]: keyRecord() } })
    await get(stub.url, KEY_DETAILS_PATH, KEY) // leaves an idle kept-alive connection
    stub.fail('hang')
    const hanging = get(stub.url, KEY_DETAILS_PATH, KEY)
    await vi.waitFor(() => expect(stub.inFlight).toBe(1))

    const started = performance.now()
    await stub.close()
    expect(performance.now() - started).toBeLessThan(1_000)
    await expect(hanging).rejects.toThrow(TypeError)
    await expect(get(stub.url, KEY_DETAILS_PATH, KEY)).rejects.toThrow(TypeError)
  })
})
