import { describe, expect, test } from 'vitest'
import { keyRecord } from '../../src/testing/index.js'
import { sendRaw } from '../support/raw-socket.js'
import { ADAPTERS, type AdapterName } from '../support/adapters.js'
import { shared, startApp } from '../support/apps.js'

// Second attack on the route fixes: `unambiguous()` now refuses `?` and `#` (src/permissions/path-shape.ts:17), and
// publicRoutes use it. Every adapter must still hand the matchers the path alone (a public route stays public with a
// query or a fragment), and a guarded route must never open (a target with one is guarded, or refused).

const KEY = 'pk-pubq-0123456789abcdef'

const PUBLIC_TARGETS = [
  '/health',
  '/health?x=1',
  '/health#x',
  '/health?x#y',
  '/health?',
  '/health#',
  'http://a/health?x',
  '/docs/a?b',
  '/docs/a#b',
]
const GUARDED_TARGETS = [
  '/v1/models',
  '/v1/models?x',
  '/v1/models#x',
  '/v1/models?/health',
  '/v1/models#/health',
  '/health/../v1/models',
]

describe.each(ADAPTERS.filter((a) => a !== 'web'))('%s: publicRoutes with a query or a fragment', (framework: AdapterName) => {
  const app = shared(() =>
    startApp(framework, {
      stub: { keys: { [KEY]: keyRecord({ id: 'key_pubq', scopes: ['completions.write'] }) } },
      auth: (stub) => ({ controlPlaneUrl: stub.url, publicRoutes: ['GET /health', 'GET /docs/*'], scopes: 'portkey' }),
      routes: [
        { method: 'GET', path: '/health', answer: () => 'ok' },
        { method: 'GET', path: '/docs/a', answer: () => 'ok' },
        { method: 'GET', path: '/v1/models', answer: () => 'models' },
        { answer: () => 'other' },
      ],
    }),
  )

  test('HELD: a public route with a query or a fragment stays public (no key: 200)', async () => {
    const statuses: Record<string, number> = {}
    for (const target of PUBLIC_TARGETS) statuses[target] = (await sendRaw(app().url, target)).status
    expect(Object.entries(statuses).filter(([, status]) => status !== 200)).toEqual([])
  })

  test('HELD: a guarded route never opens (no key: never 200)', async () => {
    const opened: string[] = []
    for (const target of GUARDED_TARGETS) if ((await sendRaw(app().url, target)).status === 200) opened.push(target)
    expect(opened).toEqual([])
  })
})
