import type { CheckStatus, RequestRoute } from '../types.js'
import type { MaybePromise } from '../maybe-promise.js'
import { AUTHORIZATION_HEADER, CREDENTIAL_HEADER } from '../credential/header.js'
import type { IncomingHeaders, PortkeyAuth } from '../types.js'
import { VirtualKeyLookupBudget } from '../virtual-key/lookup-budget.js'
import { PROVIDER_HEADER, VIRTUAL_KEY_HEADER } from '../virtual-key/virtual-key.js'
import { type Pipeline, requestState, runSteps } from './pipeline.js'

/** One request's check: the caller's context, synchronously when everything it needs is cached. */
export type Check = (
  headers: IncomingHeaders | Headers,
  route: RequestRoute | undefined,
  status: CheckStatus | undefined,
) => MaybePromise<PortkeyAuth>

/** What `createCheck()` is given: the pipeline's parts but those it makes itself. */
export type CheckParts = Omit<Pipeline, 'budget' | 'combined'> & {
  /** Callers whose virtual-key look-ups are counted at once (`VirtualKeyLookupBudget`): the cache's `max`. */
  readonly lookupBudgetSize: number
}

/**
 * `verifier.check()`, before `audited()` (decision.ts) lets `onDecision` and telemetry hear it: the request
 * goes through the steps of pipeline.ts (`runSteps()`), in order, synchronously until a step must wait.
 */
export function createCheck({ lookupBudgetSize, ...parts }: CheckParts): Check {
  const pipeline: Pipeline = {
    ...parts,
    budget: new VirtualKeyLookupBudget(lookupBudgetSize),
    combined: new WeakMap(),
  }
  return function check(headers, route, status) {
    return runSteps(requestState(isWebHeaders(headers) ? fromWebHeaders(headers) : headers, route, status), pipeline, 0)
  }
}

/**
 * Whether the headers are a Web `Headers` (or one like it): it has a `get()` method, which no header of Node's
 * object can be (their values are strings). Not `instanceof Headers`: Node's global `Headers` is defined
 * lazily, so V8 cannot fold it to a constant and `instanceof` costs a builtin call on every request.
 */
function isWebHeaders(input: IncomingHeaders | Headers): input is Headers {
  return typeof (input as { get?: unknown } | undefined)?.get === 'function'
}

/**
 * The headers the pipeline reads, from a Web `Headers` (fetch, Hono, Next.js): it joins a repeated header
 * with ', ', which the credential and slug checks refuse as they refuse Node's join. `Authorization` is read
 * only when `x-portkey-api-key` is absent: it may carry the credential then (with `bearer`), or be the
 * reason to say once how to turn `bearer` on.
 */
function fromWebHeaders(headers: Headers): IncomingHeaders {
  const read = (name: string) => headers.get(name) ?? undefined
  const credential = read(CREDENTIAL_HEADER)
  return {
    [CREDENTIAL_HEADER]: credential,
    [AUTHORIZATION_HEADER]: credential ? undefined : read(AUTHORIZATION_HEADER),
    [VIRTUAL_KEY_HEADER]: read(VIRTUAL_KEY_HEADER),
    [PROVIDER_HEADER]: read(PROVIDER_HEADER),
  }
}
