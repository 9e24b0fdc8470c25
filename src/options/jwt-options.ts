import type { JSONWebKeySet } from 'jose'

/**
 * JWT settings; giving `jwksUrl` or `jwks` turns JWT credentials on. `issuer` and `audience` are then
 * required (here or in the environment): one identity provider signs tokens for many applications with
 * the same keys, and only `iss` and `aud` tell a token meant for this API from one meant for another.
 *
 * @example
 * ```ts
 * const jwt = { jwksUrl: 'https://idp.example.com/.well-known/jwks.json', issuer: 'https://idp.example.com/' }
 * portkeyAuth({ jwt: { ...jwt, audience: 'https://api.example.com' } })
 * ```
 */
export interface JwtOptions {
  /**
   * URL of the organisation's JWKS, fetched once and again on an unknown `kid` (at most every 30 s).
   * @default process.env.PORTKEY_JWKS_URL
   */
  jwksUrl?: string
  /** An inline JWKS, instead of a URL. @default none (`jwksUrl`) */
  jwks?: JSONWebKeySet
  /** Accepted signature algorithms; `none` and HMAC are never accepted. @default ['RS256'] */
  algorithms?: string[]
  /**
   * The `iss` a token must carry (one of them, for a list): your identity provider's issuer identifier.
   * `false` accepts any issuer, on purpose. Required: without it (and without the env variable),
   * creating the middleware throws a `TypeError`.
   * @default process.env.PORTKEY_JWT_ISSUER (a comma-separated list, or `false`)
   */
  issuer?: string | string[] | false
  /**
   * The `aud` a token must carry (one of them, for a list): the identifier your identity provider puts in
   * tokens meant for this API. `false` accepts any audience, on purpose. Required: without it (and without
   * the env variable), creating the middleware throws a `TypeError`.
   * @default process.env.PORTKEY_JWT_AUDIENCE (a comma-separated list, or `false`)
   */
  audience?: string | string[] | false
  /** Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds, from 0 to 300. @default 5 */
  clockToleranceSec?: number
}
