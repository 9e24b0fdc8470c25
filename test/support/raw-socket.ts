import type { IncomingHttpHeaders } from 'node:http'
import { connect } from 'node:net'
import type { RawResponse } from './servers.js'

/** What to send besides the request target. */
interface RawRequest {
  /** @default 'GET' */
  method?: string
  headers?: Record<string, string>
  /** Sent with a Content-Length; POST, PUT and PATCH send `Content-Length: 0` without one. */
  body?: string
}

/**
 * Sends one request to the server at `url` with `target` written into the request line byte for byte:
 * fragments, absolute form, dot segments and percent-encodings reach the server as given, where `fetch`,
 * `new URL()` and most clients would normalise them first. One connection per request (`Connection: close`).
 */
export function sendRaw(url: string, target: string, init: RawRequest = {}): Promise<RawResponse> {
  const { hostname, port } = new URL(url)
  const method = init.method ?? 'GET'
  const lines = [`${method} ${target} HTTP/1.1`, `Host: ${hostname}:${port}`, 'Connection: close']
  for (const [name, value] of Object.entries(init.headers ?? {})) lines.push(`${name}: ${value}`)
  if (init.body !== undefined || /^(POST|PUT|PATCH)$/.test(method))
    lines.push(`Content-Length: ${Buffer.byteLength(init.body ?? '')}`)
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname)
    const chunks: Buffer[] = []
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.on('error', reject)
    socket.on('end', () => {
      try {
        resolve(parseResponse(Buffer.concat(chunks)))
      } catch (error) {
        reject(error)
      }
    })
    // write, not end: Node's HTTP server drops a request whose client half-closes before the answer.
    socket.write(`${lines.join('\r\n')}\r\n\r\n${init.body ?? ''}`)
  })
}

function parseResponse(raw: Buffer): RawResponse {
  const split = raw.indexOf('\r\n\r\n')
  if (split === -1) throw new Error(`incomplete response: ${JSON.stringify(raw.toString('latin1'))}`)
  const [statusLine = '', ...headerLines] = raw.subarray(0, split).toString('latin1').split('\r\n')
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1]
  if (status === undefined) throw new Error(`no status line: ${JSON.stringify(statusLine)}`)
  const headers: Record<string, string> = {}
  for (const line of headerLines) {
    const colon = line.indexOf(':')
    const name = line.slice(0, colon).trim().toLowerCase()
    const value = line.slice(colon + 1).trim()
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value
  }
  let body = raw.subarray(split + 4)
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) body = dechunk(body)
  const text = body.toString('utf8')
  return { status: Number(status), headers: headers as IncomingHttpHeaders, text, json: <T>() => JSON.parse(text) as T }
}

function dechunk(body: Buffer): Buffer {
  const parts: Buffer[] = []
  for (let at = 0; ; ) {
    const eol = body.indexOf('\r\n', at)
    const size = Number.parseInt(body.subarray(at, eol).toString('latin1'), 16)
    if (!(size > 0)) return Buffer.concat(parts)
    parts.push(body.subarray(eol + 2, eol + 2 + size))
    at = eol + 2 + size + 2
  }
}
