import { AUTHORIZATION_HEADER, CREDENTIAL_HEADER, credentialInAuthorization } from '../credential/header.js'

/** The three views Node's `IncomingMessage` gives of the request headers. */
export interface HeaderViews {
  readonly headers: Record<string, unknown>
  readonly headersDistinct?: Record<string, unknown>
  readonly rawHeaders: string[]
}

/**
 * Removes the credential from every view of a request's headers (`headers`, `headersDistinct` and the
 * `rawHeaders` some proxies forward), for the `hideCredentials` option: `x-portkey-api-key` always, and
 * `Authorization` (every line of it) only when it carried the credential — `bearer` on, no
 * `x-portkey-api-key`, the Bearer scheme. Beside `x-portkey-api-key`, `Authorization` is a provider's key,
 * left for the app to forward.
 */
export function hideCredential(request: HeaderViews, bearer = false): void {
  // Node builds headers and headersDistinct from rawHeaders on first read, for as many lines as it parsed:
  // read (so cache) both before rawHeaders shrinks, or a later read walks past its end and throws.
  const { headers, headersDistinct } = request
  // Decided before x-portkey-api-key goes, since its absence is what makes Authorization the carrier.
  const names = credentialInAuthorization(headers, bearer) ? [CREDENTIAL_HEADER, AUTHORIZATION_HEADER] : [CREDENTIAL_HEADER]
  for (const name of names) {
    delete headers[name]
    if (headersDistinct !== undefined) delete headersDistinct[name]
  }
  const raw = request.rawHeaders
  for (let i = raw.length - 2; i >= 0; i -= 2) {
    const name = raw[i]?.toLowerCase()
    if (name !== undefined && names.includes(name)) raw.splice(i, 2)
  }
}
