export type { ConnectOptions, ConnectTarget } from './connect.js'
export { connect } from './connect.js'
export type { Connection, ConnectionState, StateCause, StateListener } from './connection.js'
export type {
  ArgumentsSchema,
  Contract,
  EmitArgs,
  EmptyContract,
  EventInput,
  EventName,
  EventOutput,
  HandlerOf,
  Handlers,
  MethodArgs,
  MethodResult,
  MethodSchema,
  RemoteMethod,
  RemoteProxy,
} from './contract.js'
export { defineContract } from './contract.js'
export type { DisconnectReason, ErrorCode, PortcullisErrors, ValidationIssue, ValidationTarget } from './errors.js'
export {
  AbortError,
  DisconnectedError,
  HandshakeError,
  LimitError,
  OriginError,
  PortcullisError,
  RemoteError,
  TimeoutError,
  ValidationError,
} from './errors.js'
export { normalizeOrigin } from './gate/allowed-origins.js'
export { PROTOCOL_VERSION } from './protocol/envelope.js'
export type { TraceEntry, TraceSink } from './protocol/trace.js'
export type { CallOptions } from './rpc/caller.js'
export type { CallContext } from './rpc/responder.js'
export type { StandardSchemaV1 } from './rpc/standard-schema.js'
export { transfer } from './rpc/transfer.js'
export type { Endpoint, Rejection, RejectionReason } from './transport/transport.js'
