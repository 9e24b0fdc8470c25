// Enterprise callers send their identity provider's JWT in x-portkey-api-key. With a JWKS configured
// (jwt.jwksUrl, or env PORTKEY_JWKS_URL) and the issuer and audience tokens must carry (jwt.issuer and
// jwt.audience, or env PORTKEY_JWT_ISSUER and PORTKEY_JWT_AUDIENCE), tokens are verified in-process, with
// no call to the key service; API keys keep working beside them.
// Run: node examples/jwt.js   (locally, a stand-in identity provider signs a demo token and serves its JWKS)
import express from 'express'
import { portkeyAuth } from 'portkey-auth/express'
import { announce, listening, stopOnSignal, useLocalControlPlane } from './support/local-control-plane.js'

const { stub, token } = await useLocalControlPlane({ jwt: true })

const app = express()
// issuer and audience come from env PORTKEY_JWT_ISSUER and PORTKEY_JWT_AUDIENCE here; in your app you may
// write them out: jwt: { ..., issuer: 'https://idp.example.com/', audience: 'https://gateway.example.com' }
app.use(portkeyAuth({ jwt: { jwksUrl: process.env.PORTKEY_JWKS_URL, algorithms: ['RS256'], clockToleranceSec: 5 } }))
app.get('/whoami', (req, res) => {
  const { method, keyId, userId, organisationId, workspaceId, scopes, expiresAt } = req.portkey
  res.json({ method, keyId, userId, organisationId, workspaceId, scopes, expiresAt })
})

const server = app.listen(Number(process.env.PORT ?? 8787), '127.0.0.1')
await listening(server)
announce('JWT-guarded backend', server, (url) => [
  ...(token ? [`curl -s ${url}/whoami -H 'x-portkey-api-key: ${token}'`] : []),
  `curl -s ${url}/whoami -H 'x-portkey-api-key: pk-demo-workspace'`,
])
stopOnSignal(server, stub)
