import type { VerifierOptions } from '../options/verifier-options.js'
import { createVerifier, type Verifier } from '../verifier/create-verifier.js'

/** What both adapters accept: verifier options (or a verifier to share), and how to treat the request. */
export interface MiddlewareOptions<OnError = never> extends VerifierOptions {
  /** A verifier to use (and share between apps or routers) instead of creating one from these options. */
  verifier?: Verifier
  /**
   * Remove the `x-portkey-api-key` header from the request (`headers`, `headersDistinct`, `rawHeaders`) on
   * every outcome, admitted or refused, so that an app that forwards or logs requests cannot leak it.
   * @default false
   */
  hideCredentials?: boolean
  /** Takes over the response to a rejected request. @default writes the status, headers and JSON body */
  onError?: OnError
}

/** A middleware's settings, checked once when it is created. */
export interface MiddlewareConfig<OnError> {
  readonly verifier: Verifier
  readonly hideCredentials: boolean
  readonly onError: OnError | undefined
}

const isVerifier = (value: unknown): value is Verifier =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as Verifier).verify === 'function' &&
  typeof (value as Verifier).check === 'function'

/**
 * Sorts a middleware's argument into the verifier it uses (the one given, or a new one made from the
 * options and the environment) and its own settings.
 */
export function middlewareConfig<OnError>(options: MiddlewareOptions<OnError> | Verifier | undefined): MiddlewareConfig<OnError> {
  if (isVerifier(options)) return { verifier: options, hideCredentials: false, onError: undefined }
  const { verifier, hideCredentials = false, onError, ...verifierOptions } = options ?? {}
  if (typeof hideCredentials !== 'boolean') throw new TypeError('portkey-auth: hideCredentials must be a boolean')
  if (onError !== undefined && typeof onError !== 'function') throw new TypeError('portkey-auth: onError must be a function')
  if (verifier === undefined) return { verifier: createVerifier(verifierOptions), hideCredentials, onError }
  if (!isVerifier(verifier)) throw new TypeError('portkey-auth: verifier must come from createVerifier()')
  const extra = Object.entries(verifierOptions).filter(([, value]) => value !== undefined)
  if (extra.length > 0) {
    const names = extra.map(([name]) => name).join(', ')
    throw new TypeError(`portkey-auth: pass ${names} to createVerifier(), not beside a verifier`)
  }
  return { verifier, hideCredentials, onError }
}
