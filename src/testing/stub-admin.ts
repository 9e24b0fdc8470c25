import type { IncomingMessage, ServerResponse } from 'node:http'
import { isObject } from '../records.js'
import type { KeyRecord, VirtualKeyRecord } from '../types.js'
import { keyRecordProblem, maskKey, rawKeyProblem, type StubRecords, virtualKeyRecordProblem, withSlug } from './stub-records.js'

/** What the admin endpoints change: the stub's address and its records (a `ControlPlaneStub` is one). */
interface HeldRecords {
  readonly url: string
  readonly keys: Map<string, KeyRecord>
  readonly virtualKeys: Map<string, VirtualKeyRecord>
}

/** Path prefix of the stub's own endpoints, which Portkey's control plane has not: `/_stub/...`. */
export const STUB_ADMIN_PATH = '/_stub'

const MAX_BODY_BYTES = 1024 * 1024

type Reply = [status: number, body: unknown]

const failure = (status: number, message: string): Reply => [status, { status: 'failure', message }]

/**
 * The admin endpoints, on the stub's own `keys` and `virtualKeys` maps (what `stub.keys.set()` and
 * `stub.keys.delete()` do, over HTTP):
 *
 * - `GET /_stub`: every record held, as `{ keys, virtualKeys }` (a `--keys` file's format)
 * - `GET | PUT | PATCH | DELETE /_stub/keys/{raw key}`: read, add or replace (the body is the record), change
 *   some fields (the body's fields laid over the record), revoke (delete: the key is unknown from then on)
 * - the same on `/_stub/virtual-keys/{slug}`
 *
 * For local development only: the server listens on 127.0.0.1, and these answer only a request whose `Host`
 * is `127.0.0.1` or `localhost` at the stub's port and which carries no `Origin` (no web page, not even
 * through DNS rebinding); a PUT or PATCH body must be `application/json`.
 */
export function answerAdmin(stub: HeldRecords, req: IncomingMessage, res: ServerResponse, path: string): void {
  const refused = refusal(stub, req)
  const method = req.method ?? 'GET'
  if (refused !== null) send(res, refused)
  else if (method !== 'PUT' && method !== 'PATCH') send(res, answer(stub, method, path, undefined))
  else {
    readJson(req).then(
      (body) => send(res, answer(stub, method, path, body)),
      (error: Error) => send(res, failure(error.message.startsWith('body') ? 413 : 400, error.message)),
    )
  }
}

/**
 * Whether a request names another host than the stub's own address (`127.0.0.1` or `localhost` at its port): a
 * page that rebound its DNS name to 127.0.0.1 sends its own. With the admin endpoints on, the stub answers none.
 */
export function foreignHost(stub: Pick<HeldRecords, 'url'>, req: IncomingMessage): boolean {
  const { host } = new URL(stub.url)
  const port = host.slice(host.lastIndexOf(':') + 1)
  const given = req.headers.host ?? ''
  return given !== `127.0.0.1:${port}` && given !== `localhost:${port}`
}

function refusal(stub: HeldRecords, req: IncomingMessage): Reply | null {
  if (foreignHost(stub, req)) {
    const { port } = new URL(stub.url)
    return failure(403, `the stub's admin endpoints answer Host 127.0.0.1:${port} or localhost:${port} only`)
  }
  if (req.headers.origin !== undefined) return failure(403, "the stub's admin endpoints answer no web page (Origin)")
  const site = req.headers['sec-fetch-site']
  if (site !== undefined && site !== 'none' && site !== 'same-origin') {
    return failure(403, "the stub's admin endpoints answer no web page (Sec-Fetch-Site)")
  }
  const method = req.method ?? 'GET'
  const type = String(req.headers['content-type'] ?? '')
  if ((method === 'PUT' || method === 'PATCH') && !/^application\/json\s*(;|$)/i.test(type)) {
    return failure(415, 'send the record as JSON, with content-type: application/json')
  }
  return null
}

function answer(stub: HeldRecords, method: string, path: string, body: unknown): Reply {
  if (path === STUB_ADMIN_PATH || path === `${STUB_ADMIN_PATH}/`) {
    if (method !== 'GET') return failure(405, `${STUB_ADMIN_PATH} answers GET only`)
    const held: StubRecords = { keys: Object.fromEntries(stub.keys), virtualKeys: Object.fromEntries(stub.virtualKeys) }
    return [200, held]
  }
  const match = /^\/_stub\/(keys|virtual-keys)\/(.+)$/.exec(path)
  if (match === null)
    return failure(
      404,
      `no such stub endpoint: GET ${STUB_ADMIN_PATH}, or ${STUB_ADMIN_PATH}/keys/{key}, ${STUB_ADMIN_PATH}/virtual-keys/{slug}`,
    )
  let name: string
  try {
    name = decodeURIComponent(match[2]!)
  } catch {
    return failure(400, 'the path holds a malformed %-escape')
  }
  return match[1] === 'keys' ? keyReply(stub.keys, method, name, body) : virtualKeyReply(stub.virtualKeys, method, name, body)
}

function keyReply(keys: Map<string, KeyRecord>, method: string, key: string, body: unknown): Reply {
  const problem = rawKeyProblem(key)
  if (problem !== null) return failure(400, problem)
  const held = keys.get(key)
  const missing = failure(404, `no key ${maskKey(key)} is held`)
  if (method === 'GET') return held === undefined ? missing : [200, held]
  if (method === 'DELETE') return keys.delete(key) ? [200, { deleted: maskKey(key) }] : missing
  if (method !== 'PUT' && method !== 'PATCH') return failure(405, 'use GET, PUT, PATCH or DELETE')
  if (method === 'PATCH' && held === undefined) return missing
  const record = method === 'PATCH' && isObject(body) ? { ...held, ...body } : body
  const invalid = keyRecordProblem(record)
  if (invalid !== null) return failure(400, `key ${maskKey(key)}: ${invalid}`)
  keys.set(key, record as KeyRecord)
  return [held === undefined ? 201 : 200, record]
}

function virtualKeyReply(virtualKeys: Map<string, VirtualKeyRecord>, method: string, slug: string, body: unknown): Reply {
  const held = virtualKeys.get(slug)
  const missing = failure(404, `no virtual key "${slug}" is held`)
  if (method === 'GET') return held === undefined ? missing : [200, held]
  if (method === 'DELETE') return virtualKeys.delete(slug) ? [200, { deleted: slug }] : missing
  if (method !== 'PUT' && method !== 'PATCH') return failure(405, 'use GET, PUT, PATCH or DELETE')
  if (method === 'PATCH' && held === undefined) return missing
  const record = method === 'PATCH' && isObject(body) ? { ...held, ...body } : body
  const invalid = virtualKeyRecordProblem(record, slug)
  if (invalid !== null) return failure(400, `virtual key "${slug}": ${invalid}`)
  const filled = withSlug(record as VirtualKeyRecord, slug)
  virtualKeys.set(slug, filled)
  return [held === undefined ? 201 : 200, filled]
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_BODY_BYTES) throw new Error(`body larger than ${MAX_BODY_BYTES} bytes`)
    chunks.push(chunk)
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch (error) {
    throw new Error(`the body is not JSON: ${(error as Error).message}`)
  }
}

function send(res: ServerResponse, [status, body]: Reply): void {
  if (res.destroyed) return
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text)
}
