import { request } from 'node:http'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, onTestFinished, test } from 'vitest'
import { KEY_DETAILS_PATH, VIRTUAL_KEYS_PATH } from '../../src/testing/index.js'
import type { StubRecords } from '../../src/testing/stub-records.js'
import type { KeyRecord, VirtualKeyRecord } from '../../src/types.js'
import { createVerifier } from '../../src/verifier/create-verifier.js'
import { details, ROOT, run, start } from '../support/stub-cli.js'

// `portkey-auth-stub --keys FILE` and its admin endpoints (/_stub/...), run as a user runs them: a child
// process over real HTTP, looked up by a real verifier.

const EXAMPLE = 'examples/stub-keys.json'
const example = JSON.parse(await readFile(join(ROOT, EXAMPLE), 'utf8')) as StubRecords

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portkey-auth-stub-keys-'))
})
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true })
})

let files = 0
/** Writes `content` (JSON unless a string) to a new file of the temporary directory; returns its path. */
async function file(content: unknown): Promise<string> {
  const path = join(dir, `keys-${++files}.json`)
  await writeFile(path, typeof content === 'string' ? content : JSON.stringify(content))
  return path
}

/** A verifier against the stub, closed after the test. */
function verifierOf(url: string) {
  const verifier = createVerifier({ controlPlaneUrl: url })
  onTestFinished(() => verifier.close())
  return verifier
}

/** A call to an admin endpoint, with a JSON body when one is given. */
function admin(url: string, method: string, path: string, body?: unknown) {
  const init: RequestInit = { method }
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body)
    init.headers = { 'content-type': 'application/json' }
  }
  return fetch(`${url}/_stub${path}`, init)
}

/** A raw HTTP call with exactly these headers (fetch will not send a foreign Host). */
function rawCall(url: string, method: string, path: string, headers: Record<string, string>, body = '') {
  return new Promise<{ status: number; body: string }>((done, fail) => {
    const call = request(`${url}${path}`, { method, headers }, (res) => {
      let text = ''
      res.on('data', (chunk) => (text += String(chunk)))
      res.on('end', () => done({ status: res.statusCode!, body: text }))
    })
    call.on('error', fail)
    call.end(body)
  })
}

const ALICE = 'pk-local-alice-7f3a9c2e'

describe('portkey-auth-stub --keys: the example file', () => {
  test('serves each record of examples/stub-keys.json as written, and no demo key', async () => {
    const { url, stderr } = await start(['--port', '0', '--keys', EXAMPLE])
    expect(Object.keys(example.keys).length).toBeGreaterThanOrEqual(3)
    for (const [key, record] of Object.entries(example.keys)) {
      const res = await details(url, key)
      expect(res.status).toBe(200)
      expect(await res.json()).toStrictEqual(record)
    }
    const virtualKey = await fetch(`${url}${VIRTUAL_KEYS_PATH}openai-local`, { headers: { 'x-portkey-api-key': ALICE } })
    expect(await virtualKey.json()).toStrictEqual(example.virtualKeys['openai-local'])
    expect((await details(url, 'pk-demo-workspace')).status).toBe(401)
    expect(stderr()).toBe('')
  })

  test('the banner shows each key masked, with its id, scopes, rate limits and virtual keys; never a raw key in full', async () => {
    const { url, stdout } = await start(['--port', '0', '--keys', EXAMPLE])
    const output = stdout()
    expect(output).toContain(`listening on ${url} (keys from ${EXAMPLE};`)
    expect(output).toMatch(
      /\n {2}pk-lo…9c2e +admitted: workspace ws_local, scopes completions\.write, logs\.read\n +id key_local_alice; rate limits 5 requests a minute; virtual keys openai-local\n/,
    )
    expect(output).toMatch(
      /\n {2}pk-lo…d0e6 +admitted: workspace ws_local, scopes logs\.read\n +id key_local_reader; virtual keys openai-local\n/,
    )
    expect(output).toMatch(/\n {2}pk-lo…5a77 +refused \(412 usage_limit_exceeded\)\n +id key_local_spent\n/)
    expect(output).toMatch(/\n {2}openai-local +openai, for callers in ws_local; rate limits 100 requests a minute\n/)
    for (const key of Object.keys(example.keys)) {
      // Not the key, nor any half of it.
      const half = Math.ceil(key.length / 2)
      for (let i = 0; i + half <= key.length; i++) expect(output).not.toContain(key.slice(i, i + half))
    }
    expect(output).toContain(`-H 'x-portkey-api-key: <a key of the file>'`)
  })
})

describe('portkey-auth-stub --keys: what a verifier makes of the records', () => {
  const LIMITED = 'pk-file-limited-0a1b2c3d'
  const records = {
    keys: {
      [LIMITED]: {
        id: 'key_file_limited',
        organisation_id: 'org_file',
        workspace_id: 'ws_file',
        scopes: ['completions.write', 'prompts.render'],
        // A day's window: the test cannot straddle two windows, as it could a minute's.
        rate_limits: [{ type: 'requests', unit: 'rpd', value: 2 }],
      },
      'pk-file-expired-9f8e7d6c': {
        id: 'key_file_expired',
        organisation_id: 'org_file',
        scopes: [],
        expires_at: '2021-01-01T00:00:00Z',
      },
    },
    virtualKeys: { 'anthropic-file': { ai_provider_name: 'anthropic', workspace_id: 'ws_file' } },
  }

  test("admits a file key with the file's scopes and virtual key, and enforces its rate limit with 429", async () => {
    const { url } = await start(['--port', '0', '--keys', await file(records)])
    const verifier = verifierOf(url)
    const headers = { 'x-portkey-api-key': LIMITED, 'x-portkey-virtual-key': 'anthropic-file' }
    const auth = await verifier.verify(headers)
    expect(auth).toMatchObject({ keyId: 'key_file_limited', organisationId: 'org_file', workspaceId: 'ws_file' })
    expect(auth.scopes).toEqual(['completions.write', 'prompts.render'])
    expect(auth.rateLimits).toEqual([{ type: 'requests', unit: 'rpd', value: 2 }])
    expect(auth.virtualKey).toMatchObject({ slug: 'anthropic-file', provider: 'anthropic', status: 'active' })
    await verifier.verify(headers)
    await expect(verifier.verify(headers)).rejects.toMatchObject({ status: 429, code: 'rate_limit_exceeded' })
    await expect(verifier.verify({ 'x-portkey-api-key': 'pk-file-expired-9f8e7d6c' })).rejects.toMatchObject({
      status: 401,
      code: 'expired_api_key',
    })
  })
})

describe('portkey-auth-stub --keys: a bad file is refused with exit code 2, naming the file and the entry', () => {
  const good = { id: 'key_ok', organisation_id: 'org_1', scopes: ['completions.write'] }
  test.each<[string, unknown, RegExp]>([
    ['not JSON', '{ "keys": ', /: not JSON/],
    ['not an object', [good], /expected a JSON object \{ "keys"/],
    ['an unknown top-level field', { key: {} }, /unknown field "key" \(expected "keys" and "virtualKeys"\)/],
    ['keys not an object', { keys: [good] }, /"keys" must be an object of records by raw API key/],
    [
      'a record without scopes',
      { keys: { 'pk-no-scopes-1234': { id: 'k', organisation_id: 'o' } } },
      /keys entry pk-n…1234: "scopes" must be an array of strings.*\(missing\)/,
    ],
    [
      'an empty id',
      { keys: { 'pk-empty-id-1234': { ...good, id: '' } } },
      /keys entry pk-…234: "id" must be a non-empty string \(got ""\)/,
    ],
    [
      'a rate limit of an unknown unit',
      { keys: { 'pk-bad-limit-1234': { ...good, rate_limits: [{ type: 'requests', unit: 'rps', value: 1 }] } } },
      /keys entry pk-b…1234: "rate_limits"\[0\]\.unit must be one of rpm, rph, rpd, rpw/,
    ],
    [
      'a bad expiry',
      { keys: { 'pk-bad-expiry-12': { ...good, expires_at: 'soon' } } },
      /"expires_at" must be null or a date-time string/,
    ],
    ['a key with a space', { keys: { 'pk-with space-1234': good } }, /keys entry pk-w…1234: an API key is visible ASCII/],
    [
      'a virtual key of another slug',
      { virtualKeys: { 'openai-a': { slug: 'openai-b', ai_provider_name: 'openai' } } },
      /virtualKeys entry "openai-a": "slug" is "openai-b", but the record is given for "openai-a"/,
    ],
    [
      'a virtual key without a provider',
      { virtualKeys: { 'vk-1': { workspace_id: 'ws_1' } } },
      /virtualKeys entry "vk-1": "ai_provider_name" must be/,
    ],
  ])('%s', async (_name, content, message) => {
    const path = await file(content)
    const cli = run(['--port', '0', '--keys', path])
    expect(await cli.exit).toEqual({ code: 2, signal: null })
    expect(cli.stderr()).toContain(`portkey-auth-stub: --keys ${path}: `)
    expect(cli.stderr()).toMatch(message)
    expect(cli.stderr()).toContain('--help')
    expect(cli.stdout()).toBe('')
    // The entry is named by its masked key only.
    const { keys } = content as { keys?: unknown }
    if (keys !== null && typeof keys === 'object' && !Array.isArray(keys)) {
      for (const key of Object.keys(keys)) expect(cli.stderr()).not.toContain(key)
    }
  })

  test('a missing file', async () => {
    const cli = run(['--keys', join(dir, 'nope.json')])
    expect(await cli.exit).toEqual({ code: 2, signal: null })
    expect(cli.stderr()).toContain(`--keys ${join(dir, 'nope.json')}: no such file`)
  })

  test('fields starting with $ are comments; an empty file of keys serves none', async () => {
    const { url, stdout } = await start(['--port', '0', '--keys', await file({ $comment: 'nothing yet', keys: {} })])
    expect((await details(url, 'pk-demo-workspace')).status).toBe(401)
    expect(stdout()).toMatch(/Virtual keys \(header x-portkey-virtual-key\):\n {2}\(none\)\n/)
  })
})

describe('portkey-auth-stub: admin endpoints', () => {
  const ADDED = 'pk-admin-added-5e6f7a8b'
  const added: KeyRecord = {
    id: 'key_admin_added',
    organisation_id: 'org_demo',
    workspace_id: 'ws_demo',
    scopes: ['completions.write'],
  }

  test('PUT adds a key a verifier admits; PATCH changes it; DELETE revokes it: refused once the cache forgets it', async () => {
    const { url } = await start()
    const headers = { 'x-portkey-api-key': ADDED }
    const instanceA = verifierOf(url)
    await expect(instanceA.verify(headers)).rejects.toMatchObject({ status: 401, code: 'invalid_api_key' })

    const put = await admin(url, 'PUT', `/keys/${ADDED}`, added)
    expect(put.status).toBe(201)
    expect(await put.json()).toStrictEqual(added)
    await instanceA.invalidate(ADDED) // it cached "unknown key" a moment ago
    expect((await instanceA.verify(headers)).scopes).toEqual(['completions.write'])

    const patch = await admin(url, 'PATCH', `/keys/${ADDED}`, { scopes: ['logs.read'] })
    expect(patch.status).toBe(200)
    expect(await patch.json()).toStrictEqual({ ...added, scopes: ['logs.read'] })
    expect((await instanceA.verify(headers)).scopes).toEqual(['completions.write']) // still cached
    await instanceA.invalidate(ADDED)
    expect((await instanceA.verify(headers)).scopes).toEqual(['logs.read'])

    const deleted = await admin(url, 'DELETE', `/keys/${ADDED}`)
    expect(deleted.status).toBe(200)
    expect((await admin(url, 'GET', `/keys/${ADDED}`)).status).toBe(404)
    // A second instance, which never saw the key, refuses it at once; the first once it forgets its answer.
    await expect(verifierOf(url).verify(headers)).rejects.toMatchObject({ status: 401, code: 'invalid_api_key' })
    expect((await instanceA.verify(headers)).keyId).toBe('key_admin_added')
    await instanceA.invalidate(ADDED)
    await expect(instanceA.verify(headers)).rejects.toMatchObject({ status: 401, code: 'invalid_api_key' })
    expect((await admin(url, 'DELETE', `/keys/${ADDED}`)).status).toBe(404)
  })

  test('a virtual key PUT without a slug gets its own; keys of its workspace use it; deleted, it is refused', async () => {
    const { url } = await start()
    const put = await admin(url, 'PUT', '/virtual-keys/anthropic-added', {
      ai_provider_name: 'anthropic',
      workspace_id: 'ws_demo',
    })
    expect(put.status).toBe(201)
    expect(await put.json()).toEqual({ slug: 'anthropic-added', ai_provider_name: 'anthropic', workspace_id: 'ws_demo' })
    const headers = { 'x-portkey-api-key': 'pk-demo-workspace', 'x-portkey-virtual-key': 'anthropic-added' }
    expect((await verifierOf(url).verify(headers)).virtualKey).toMatchObject({ slug: 'anthropic-added', provider: 'anthropic' })

    const patch = await admin(url, 'PATCH', '/virtual-keys/anthropic-added', { status: 'exhausted' })
    expect(patch.status).toBe(200)
    await expect(verifierOf(url).verify(headers)).rejects.toMatchObject({ status: 412, code: 'usage_limit_exceeded' })
    expect((await admin(url, 'DELETE', '/virtual-keys/anthropic-added')).status).toBe(200)
    await expect(verifierOf(url).verify(headers)).rejects.toMatchObject({ status: 403, code: 'virtual_key_not_allowed' })
  })

  test('GET /_stub lists every record in the --keys format: saved to a file, another stub serves the same', async () => {
    const first = await start()
    await admin(first.url, 'PUT', `/keys/${ADDED}`, added)
    const listed = (await (await admin(first.url, 'GET', '')).json()) as StubRecords
    expect(listed.keys[ADDED]).toStrictEqual(added)
    expect(Object.keys(listed.keys)).toContain('pk-demo-workspace')
    expect(Object.keys(listed.virtualKeys)).toEqual(['openai-demo'])

    const second = await start(['--port', '0', '--keys', await file(listed)])
    for (const [key, record] of Object.entries(listed.keys))
      expect(await (await details(second.url, key)).json()).toStrictEqual(record)
    expect((await verifierOf(second.url).verify({ 'x-portkey-api-key': ADDED })).keyId).toBe('key_admin_added')
  })

  test('a bad record is refused with 400 naming the field, and nothing changes', async () => {
    const { url } = await start()
    const bad = await admin(url, 'PUT', `/keys/${ADDED}`, { ...added, scopes: 'completions.write' })
    expect(bad.status).toBe(400)
    expect(((await bad.json()) as { message: string }).message).toMatch(
      /^key pk-ad…7a8b: "scopes" must be an array of strings.*\(got "completions\.write"\)$/,
    )
    expect((await admin(url, 'GET', `/keys/${ADDED}`)).status).toBe(404)

    const nulled = await admin(url, 'PATCH', '/keys/pk-demo-workspace', { status: null })
    expect(nulled.status).toBe(400)
    expect(((await nulled.json()) as { message: string }).message).toMatch(/"status" must be a string/)
    expect(((await (await admin(url, 'GET', '/keys/pk-demo-workspace')).json()) as KeyRecord).status).toBe('active')

    const vk = await admin(url, 'PUT', '/virtual-keys/openai-demo', {
      slug: 'other',
      ai_provider_name: 'openai',
    } as VirtualKeyRecord)
    expect(vk.status).toBe(400)
    expect((await admin(url, 'PATCH', `/keys/${ADDED}`, { scopes: [] })).status).toBe(404)
    expect((await admin(url, 'PUT', `/keys/${ADDED}`, '{ "id": ')).status).toBe(400)
    expect((await admin(url, 'POST', `/keys/${ADDED}`)).status).toBe(405)
    expect((await admin(url, 'GET', '/nothing')).status).toBe(404)
  })

  test('answers only Host 127.0.0.1 or localhost at its port, no web page (Origin), and JSON bodies', async () => {
    const { url } = await start()
    const { port } = new URL(url)
    const body = JSON.stringify(added)
    const json = { 'content-type': 'application/json' }
    const path = `/_stub/keys/${ADDED}`
    expect((await rawCall(url, 'PUT', path, { ...json, host: `attacker.example:${port}` }, body)).status).toBe(403)
    expect(
      (await rawCall(url, 'PUT', path, { ...json, host: `127.0.0.1:${port}`, origin: 'http://attacker.example' }, body)).status,
    ).toBe(403)
    expect((await rawCall(url, 'PUT', path, { 'content-type': 'text/plain', host: `127.0.0.1:${port}` }, body)).status).toBe(415)
    expect((await details(url, ADDED)).status).toBe(401)
    expect((await rawCall(url, 'PUT', path, { ...json, host: `localhost:${port}` }, body)).status).toBe(201)
    expect((await details(url, ADDED)).status).toBe(200)
  })

  test('the banner lists the admin endpoints, and its example curl works as printed', async () => {
    const { url, stdout } = await start()
    const output = stdout()
    for (const method of ['GET   ', 'PUT   ', 'PATCH ', 'DELETE']) expect(output).toContain(`  ${method} ${url}/_stub`)
    expect(output).toContain(`${url}/_stub/virtual-keys/{slug}`)
    const curl = /curl -X PUT (\S+) -H 'content-type: application\/json' -d '(.+)'/.exec(output)
    expect(curl).not.toBeNull()
    const res = await fetch(curl![1]!, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: curl![2]! })
    expect(res.status).toBe(201)
    const key = decodeURIComponent(curl![1]!.slice(`${url}/_stub/keys/`.length))
    expect((await verifierOf(url).verify({ 'x-portkey-api-key': key })).scopes).toEqual(['completions.write'])
  })
})

test('KEY_DETAILS_PATH is what the banner and the --help text name', async () => {
  const cli = run(['--help'])
  await cli.exit
  expect(cli.stdout()).toContain(`GET ${KEY_DETAILS_PATH}`)
  expect(cli.stdout()).toContain('-k, --keys FILE')
})
