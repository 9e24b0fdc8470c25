import { afterEach, describe, expect, test, vi } from 'vitest'
import { createVerifier } from '../../src/verifier/create-verifier.js'
import { recordingLogger } from '../support/core-helpers.js'

// Issue 24: a verifier says once, when it is made, where it looks keys up and where that came from, and what
// is on: a user with no environment set sees at start-up that it targets Portkey's own control plane.
describe('the line a verifier logs when it is made', () => {
  afterEach(() => vi.unstubAllEnvs())

  const made = (options: Parameters<typeof createVerifier>[0] = {}) => {
    const logger = recordingLogger()
    createVerifier({ ...options, logger })
    expect(logger.lines).toEqual([])
    expect(logger.startup).toHaveLength(1)
    return logger.startup[0]!
  }

  test('the URL and its source: the option, the environment, or the default (saying how to change it)', () => {
    vi.stubEnv('PORTKEY_CONTROL_PLANE_URL', '')
    expect(made({ controlPlaneUrl: 'http://127.0.0.1:9/' })).toBe(
      'info: portkey-auth: verifier ready: control plane http://127.0.0.1:9 (the controlPlaneUrl option); clientAuth off, JWT off, Redis off, rate limits on, Bearer off',
    )
    expect(made()).toMatch(
      /^info: portkey-auth: verifier ready: control plane https:\/\/api\.portkey\.ai \(the default; set PORTKEY_CONTROL_PLANE_URL or controlPlaneUrl for another\);/,
    )
    vi.stubEnv('PORTKEY_CONTROL_PLANE_URL', 'http://127.0.0.1:8')
    expect(made()).toMatch(/control plane http:\/\/127\.0\.0\.1:8 \(PORTKEY_CONTROL_PLANE_URL\);/)
  })

  test('what is on, and never a secret', () => {
    const secret = 'Bearer s3cr3t-client-auth'
    const line = made({
      controlPlaneUrl: 'http://127.0.0.1:9',
      clientAuth: secret,
      bearer: true,
      rateLimits: false,
      jwt: { jwks: { keys: [] }, issuer: 'https://idp.test/', audience: 'api' },
    })
    expect(line).toMatch(/; clientAuth on, JWT on, Redis off, rate limits off, Bearer on$/)
    expect(line).not.toContain('s3cr3t')
  })

  test('a custom lookup is named as such, not as a URL it never calls', () => {
    expect(made({ lookup: async () => null })).toMatch(/verifier ready: keys looked up by the custom lookup option;/)
  })
})
