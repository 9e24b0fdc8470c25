export { startControlPlaneStub } from './control-plane-stub.js'
export type { ControlPlaneStub, ControlPlaneStubOptions, FailureMode, StubCall } from './control-plane-stub.js'
export { keyRecord } from './records.js'
export { KEY_DETAILS_PATH } from '../core/control-plane.js'
