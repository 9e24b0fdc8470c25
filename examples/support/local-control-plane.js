// For trying the examples out without a Portkey account: unless PORTKEY_CONTROL_PLANE_URL is set, start
// the package's own control-plane stub on a free loopback port, seeded with demo keys, and point the
// environment at it. In your own app you need none of this: portkeyAuth() reads the same variables.
import { createTestIssuer, keyRecord, startControlPlaneStub, virtualKeyRecord } from 'portkey-auth/testing'

export const DEMO_KEYS = {
  'pk-demo-workspace': keyRecord({
    id: 'key_demo_workspace',
    name: 'demo workspace key',
    organisation_id: 'org_demo',
    workspace_id: 'ws_demo',
    scopes: ['completions.write', 'logs.read'],
    defaults: { config_id: 'pc-demo-config', metadata: { team: 'demo' } },
    rate_limits: [{ type: 'requests', unit: 'rpm', value: 600 }],
  }),
  'pk-demo-readonly': keyRecord({
    id: 'key_demo_readonly',
    organisation_id: 'org_demo',
    workspace_id: 'ws_demo',
    scopes: ['logs.read'],
  }),
  'pk-demo-exhausted': keyRecord({ id: 'key_demo_exhausted', organisation_id: 'org_demo', status: 'exhausted' }),
  'pk-demo-expired': keyRecord({ id: 'key_demo_expired', organisation_id: 'org_demo', expires_at: '2020-01-01T00:00:00Z' }),
}

export const DEMO_VIRTUAL_KEYS = {
  'openai-demo': virtualKeyRecord({ slug: 'openai-demo', ai_provider_name: 'openai', workspace_id: 'ws_demo' }),
}

/**
 * Starts the local stand-in unless the environment names a real control plane. With `jwt`, it also
 * plays the identity provider: it serves a JWKS, sets PORTKEY_JWKS_URL, PORTKEY_JWT_ISSUER and
 * PORTKEY_JWT_AUDIENCE, and returns a signed token.
 */
export async function useLocalControlPlane({ jwt = false } = {}) {
  if (process.env.PORTKEY_CONTROL_PLANE_URL) return { stub: null, token: null }
  const stub = await startControlPlaneStub({ keys: DEMO_KEYS, virtualKeys: DEMO_VIRTUAL_KEYS })
  process.env.PORTKEY_CONTROL_PLANE_URL = stub.url
  let token = null
  if (jwt) {
    const issuer = await createTestIssuer()
    stub.jwks = issuer.jwks
    process.env.PORTKEY_JWKS_URL = stub.jwksUrl
    process.env.PORTKEY_JWT_ISSUER = issuer.issuer
    process.env.PORTKEY_JWT_AUDIENCE = issuer.audience
    token = await issuer.sign({
      portkey_oid: 'org_demo',
      portkey_workspace: 'ws_demo',
      scope: 'portkey.completions.write',
      sub: 'user_demo',
      email_id: 'demo@example.com',
    })
  }
  console.log(
    `Local control-plane stand-in on ${stub.url}; demo keys: ${Object.keys(DEMO_KEYS).join(', ')}; virtual key: openai-demo`,
  )
  process.once('exit', () => void stub.close())
  return { stub, token }
}

/** Prints where the app listens and a few requests to try. */
export function announce(name, server, tries) {
  const url = `http://127.0.0.1:${server.address().port}`
  console.log(`${name} listening on ${url}\n\nTry it:`)
  for (const line of tries(url)) console.log(`  ${line}`)
  console.log('\nCtrl-C to stop.')
}

/** Stops on Ctrl-C or SIGTERM, closing whatever was started. */
export function stopOnSignal(...closables) {
  const stop = async () => {
    for (const closable of closables) await closable?.close?.()
    process.exit(0)
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}
