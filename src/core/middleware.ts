import type { VerifierOptions } from './options.js'
import { createVerifier, type Verifier } from './verifier.js'

/** What both adapters accept besides their own `onError`: verifier options, or a verifier to share. */
export interface MiddlewareOptions extends VerifierOptions {
  /** A verifier to use (and share between apps or routers) instead of creating one from these options. */
  verifier?: Verifier
}

const isVerifier = (value: unknown): value is Verifier =>
  typeof value === 'object' && value !== null && typeof (value as Verifier).verify === 'function'

/** The verifier a middleware uses: the one given, or a new one made from the options and the environment. */
export function verifierFrom(options: MiddlewareOptions | Verifier | undefined): Verifier {
  if (isVerifier(options)) return options
  const { verifier, ...rest } = options ?? {}
  if (verifier === undefined) return createVerifier(rest as VerifierOptions)
  if (!isVerifier(verifier)) throw new TypeError('portkey-auth: verifier must come from createVerifier()')
  const extra = Object.entries(rest)
    .filter(([name, value]) => name !== 'onError' && value !== undefined)
    .map(([name]) => name)
  if (extra.length > 0) {
    throw new TypeError(`portkey-auth: pass ${extra.join(', ')} to createVerifier(), not beside a verifier`)
  }
  return verifier
}
