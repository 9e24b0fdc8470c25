import { CREDENTIAL_HEADER } from '../credential/header.js'

/** The three views Node's `IncomingMessage` gives of the request headers. */
export interface HeaderViews {
  readonly headers: Record<string, unknown>
  readonly headersDistinct?: Record<string, unknown>
  readonly rawHeaders: string[]
}

/**
 * Removes the credential from every view of a request's headers (`headers`, `headersDistinct` and the
 * `rawHeaders` some proxies forward), for the `hideCredentials` option.
 */
export function hideCredential(request: HeaderViews): void {
  // Node builds headers and headersDistinct from rawHeaders on first read, for as many lines as it parsed:
  // read (so cache) both before rawHeaders shrinks, or a later read walks past its end and throws.
  const { headers, headersDistinct } = request
  delete headers[CREDENTIAL_HEADER]
  if (headersDistinct !== undefined) delete headersDistinct[CREDENTIAL_HEADER]
  const raw = request.rawHeaders
  for (let i = raw.length - 2; i >= 0; i -= 2) {
    if (raw[i]?.toLowerCase() === CREDENTIAL_HEADER) raw.splice(i, 2)
  }
}
