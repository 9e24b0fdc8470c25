// For trying the examples out without a Portkey account: unless PORTKEY_CONTROL_PLANE_URL is set, start
// the package's own control-plane stub on a free loopback port, seeded with its demo keys (the ones
// `npx portkey-auth-stub` serves), and point the environment at it. In your own app you need none of
// this: portkeyAuth() reads the same variables.
import { once } from 'node:events'
import { relative } from 'node:path'
import { createTestIssuer, demoKeys, demoVirtualKeys, startControlPlaneStub } from 'portkey-auth/testing'

/**
 * Starts the local stand-in unless the environment names a real control plane. With `jwt`, it also
 * plays the identity provider: it serves a JWKS, sets PORTKEY_JWKS_URL, PORTKEY_JWT_ISSUER and
 * PORTKEY_JWT_AUDIENCE, and returns a signed token.
 */
export async function useLocalControlPlane({ jwt = false } = {}) {
  if (process.env.PORTKEY_CONTROL_PLANE_URL) return { stub: null, token: null }
  const stub = await startControlPlaneStub({ keys: demoKeys(), virtualKeys: demoVirtualKeys() })
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
    `Local control-plane stand-in on ${stub.url}; demo keys: ${[...stub.keys.keys()].join(', ')}; virtual keys: ${[...stub.virtualKeys.keys()].join(', ')}`,
  )
  process.once('exit', () => void stub.close())
  return { stub, token }
}

/**
 * Resolves once `server` listens. When it cannot (its port is taken: by another example, or by
 * `npx portkey-auth-stub`, which listens on 8788), it says so in one line and exits: see cannotListen().
 */
export async function listening(server) {
  try {
    await once(server, 'listening')
  } catch (error) {
    cannotListen(error)
  }
}

/** Ends the process with one line saying which port it could not listen on and how to pick another, instead of a stack trace. */
export function cannotListen(error) {
  const port = error.port ?? process.env.PORT
  const reason = { EADDRINUSE: 'it is in use', EACCES: 'permission denied' }[error.code] ?? error.message
  const code = error.code ? ` (${error.code})` : ''
  const script = relative(process.cwd(), process.argv[1])
  console.error(
    `Cannot listen on 127.0.0.1:${port}: ${reason}${code}. Pick another port with PORT=, e.g. PORT=0 node ${script} for any free one.`,
  )
  process.exit(1)
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
