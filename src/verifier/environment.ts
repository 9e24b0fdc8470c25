import { processEnv } from '../platform/process-env.js'
import { sha256Base64url } from '../platform/sha256.js'
import { createVerifier } from './create-verifier.js'
import type { Verifier } from './verifier.js'

// The variables a verifier made without options reads its settings from.
const ENVIRONMENT = [
  'PORTKEY_CONTROL_PLANE_URL',
  'PORTKEY_CLIENT_AUTH',
  'PORTKEY_JWKS_URL',
  'PORTKEY_JWT_ISSUER',
  'PORTKEY_JWT_AUDIENCE',
] as const

const byEnvironment = new Map<string, Verifier>()

/**
 * The one verifier of this process made from the environment alone: every middleware and handler created
 * without verifier options shares it, so one cache and one count of each rate limit. A new one when the
 * environment's settings change (a test that stubs them). Keyed by a digest: `PORTKEY_CLIENT_AUTH` is a secret.
 */
export function environmentVerifier(): Verifier {
  const env = processEnv()
  const key = sha256Base64url(JSON.stringify(ENVIRONMENT.map((name) => env[name] ?? null)))
  let verifier = byEnvironment.get(key)
  if (verifier === undefined) {
    verifier = createVerifier()
    byEnvironment.set(key, verifier)
  }
  return verifier
}
