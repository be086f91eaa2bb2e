import { describe, expectTypeOf, it } from 'vitest'
import {
  AbortError,
  DisconnectedError,
  type DisconnectReason,
  type ErrorCode,
  HandshakeError,
  LimitError,
  OriginError,
  PortcullisError,
  type PortcullisErrors,
  RemoteError,
  TimeoutError,
  ValidationError,
  type ValidationIssue,
  type ValidationTarget,
} from '../../src/index.js'

describe('error classes', () => {
  it('all extend PortcullisError with a stable code', () => {
    for (const E of [
      OriginError,
      ValidationError,
      TimeoutError,
      AbortError,
      DisconnectedError,
      RemoteError,
      LimitError,
      HandshakeError,
    ]) {
      expectTypeOf(E.prototype).toExtend<PortcullisError>()
    }
    expectTypeOf<PortcullisError['code']>().toEqualTypeOf<ErrorCode>()
    expectTypeOf<ErrorCode>().toEqualTypeOf<
      'ORIGIN' | 'VALIDATION' | 'TIMEOUT' | 'ABORT' | 'DISCONNECTED' | 'REMOTE' | 'LIMIT' | 'HANDSHAKE'
    >()
    expectTypeOf<PortcullisError>().toExtend<Error>()
  })

  it('ValidationError carries the issues, the target, the side and the method', () => {
    expectTypeOf<ValidationError['issues']>().toEqualTypeOf<readonly ValidationIssue[]>()
    expectTypeOf<ValidationIssue>().toEqualTypeOf<{ readonly path: readonly PropertyKey[]; readonly message: string }>()
    expectTypeOf<ValidationError['target']>().toEqualTypeOf<ValidationTarget>()
    expectTypeOf<ValidationTarget>().toEqualTypeOf<'arguments' | 'result' | 'event'>()
    expectTypeOf<ValidationError['side']>().toEqualTypeOf<'local' | 'remote'>()
    expectTypeOf<ValidationError['method']>().toEqualTypeOf<string>()
  })

  it('RemoteError carries the remote name, data, stack and cause', () => {
    expectTypeOf<RemoteError['remoteName']>().toEqualTypeOf<string>()
    expectTypeOf<RemoteError['data']>().toEqualTypeOf<Readonly<Record<string, unknown>>>()
    expectTypeOf<RemoteError['remoteStack']>().toEqualTypeOf<string | undefined>()
    expectTypeOf<RemoteError['cause']>().toEqualTypeOf<unknown>()
  })

  it('DisconnectedError says why', () => {
    expectTypeOf<DisconnectedError['reason']>().toEqualTypeOf<DisconnectReason>()
    expectTypeOf<'peer-gone'>().toExtend<DisconnectReason>()
    expectTypeOf<'closed'>().toExtend<DisconnectReason>()
    expectTypeOf<'page-hidden'>().toExtend<DisconnectReason>()
  })

  it('fields are read-only', () => {
    const e = {} as RemoteError
    // @ts-expect-error: readonly
    e.remoteName = 'x'
    const v = {} as ValidationError
    // @ts-expect-error: readonly
    v.issues = []
    const d = {} as DisconnectedError
    // @ts-expect-error: readonly
    d.reason = 'closed'
  })

  it('narrows by instanceof and by code', () => {
    const error: unknown = null
    if (error instanceof ValidationError) expectTypeOf(error.issues).toEqualTypeOf<readonly ValidationIssue[]>()
    if (error instanceof PortcullisError && error.code === 'REMOTE') expectTypeOf(error.code).toEqualTypeOf<'REMOTE'>()
  })
})

describe('narrowing by code', () => {
  it('each class has its own literal code, and the union narrows on it', () => {
    expectTypeOf<ValidationError['code']>().toEqualTypeOf<'VALIDATION'>()
    expectTypeOf<DisconnectedError['code']>().toEqualTypeOf<'DISCONNECTED'>()
    const narrow = (error: PortcullisErrors) => {
      if (error.code === 'VALIDATION') expectTypeOf(error.issues).toEqualTypeOf<readonly ValidationIssue[]>()
      if (error.code === 'DISCONNECTED') expectTypeOf(error.reason).toEqualTypeOf<DisconnectReason>()
    }
    void narrow
  })
})
