import { MAX_CREDENTIAL_BYTES } from '../../src/credential/header.js'

/** What the spec accepts as a credential: one value of visible ASCII but the comma, 1 to 4096 bytes. */
export const acceptable = (value: unknown): value is string =>
  typeof value === 'string' &&
  value.length >= 1 &&
  value.length <= MAX_CREDENTIAL_BYTES &&
  /^[\x21-\x7e]+$/.test(value) &&
  !value.includes(',')
