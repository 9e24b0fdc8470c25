/**
 * For your tests and demos, not for production: a stub of Portkey's control plane, records to seed it
 * with, and a JWT issuer.
 * @packageDocumentation
 */

export { JWKS_PATH, startControlPlaneStub } from './control-plane-stub.js'
export type { ControlPlaneStub, ControlPlaneStubOptions, FailureMode, StubCall, VirtualKeyAccess } from './control-plane-stub.js'
export { keyRecord, virtualKeyRecord } from './records.js'
export { demoKeys, demoVirtualKeys } from './demo-keys.js'
export { createTestIssuer } from './issuer.js'
export type { TestIssuer, TestIssuerOptions } from './issuer.js'
export { KEY_DETAILS_PATH, VIRTUAL_KEYS_PATH } from '../lookup/control-plane.js'
