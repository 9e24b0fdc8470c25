import { Hono } from 'hono'
import { describe, expect, test } from 'vitest'
import * as edge from '../../src/hono/node-request-edge.js'
import * as node from '../../src/hono/node-request.js'

// Attack on #hono-node-request: the edge stub (workerd, worker, browser, edge-light) exports what the Node module
// does, never takes anything for Node's request, and has the check read the Web Request's headers, the ones that
// hideCredentials empties there.
describe('#hono-node-request on the edge', () => {
  test('exports the same names as the Node module', () => {
    expect(Object.keys(edge).sort()).toEqual(Object.keys(node).sort())
  })

  test("no Node request, whatever env holds; the headers read are c.req.raw's", async () => {
    const incoming = { headers: { 'x-portkey-api-key': 'node-copy' }, rawHeaders: ['x-portkey-api-key', 'node-copy'] }
    expect(node.nodeRequest({ incoming })).toBe(incoming)
    expect(edge.nodeRequest({ incoming })).toBeUndefined()
    const app = new Hono().get('/', (c) => {
      const headers = edge.honoHeaders(c)
      return c.json({ same: headers === c.req.raw.headers, key: headers.get('x-portkey-api-key') })
    })
    const res = await app.request('/', { headers: { 'x-portkey-api-key': 'web' } }, { incoming })
    expect(await res.json()).toEqual({ same: true, key: 'web' })
  })
})
