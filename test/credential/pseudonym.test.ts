import { createHash } from 'node:crypto'
import { describe, expect, test } from 'vitest'
import { createTestIssuer } from '../../src/testing/index.js'
import { createVerifier } from '../../src/verifier/create-verifier.js'
import { useStub } from '../support/servers.js'

// Attack (hole 3): "a JWT keyId without jti is a pseudonym, never the e-mail". The pseudonym is 96 bits of an
// unsalted SHA-256 of JSON [iss, org, claim, value] (src/credential/identity.ts pseudonym()). iss and org are
// public to anyone holding one token of the deployment; so whoever sees a keyId (an app's logs, telemetry,
// onDecision, a response the app builds from the context) can test e-mail guesses offline, at billions a second.

describe('a JWT keyId without jti', () => {
  test('cannot be linked back to the e-mail in sub by hashing a guess', async () => {
    const issuer = await createTestIssuer()
    const stub = await useStub({ jwks: issuer.jwks })
    const verifier = createVerifier({
      controlPlaneUrl: stub.url,
      logger: false,
      jwt: { jwksUrl: stub.jwksUrl, issuer: issuer.issuer, audience: issuer.audience },
    })
    try {
      const token = await issuer.sign({ sub: 'alice@example.com', portkey_oid: 'org_1' })
      const auth = await verifier.verify({ 'x-portkey-api-key': token })
      expect(auth.keyId).toMatch(/^jwt_/)
      // An attacker's dictionary: the guess that matches names the user.
      const guesses = ['bob@example.com', 'alice@example.com', 'carol@example.com']
      const linked = guesses.filter(
        (guess) =>
          `jwt_${createHash('sha256')
            .update(JSON.stringify([issuer.issuer, 'org_1', 'sub', guess]))
            .digest('base64url')
            .slice(0, 16)}` === auth.keyId,
      )
      expect(linked).toEqual([])
    } finally {
      await verifier.close()
    }
  })
})
