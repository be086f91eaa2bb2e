import * as z from 'zod/mini'

/**
 * The wire. Keys are terse because every message carries them. Two families:
 * link messages (the handshake, sent through the window or endpoint the user
 * gave) and session messages (everything else, sent over the private port).
 */

/** Bumped on any incompatible change to the messages below. */
export const PROTOCOL_VERSION = 1

const MAX_ID = 64
const MAX_NAME = 256
const token = z.string().check(z.minLength(1), z.maxLength(MAX_ID))
const name = z.string().check(z.minLength(1), z.maxLength(MAX_NAME))

/** SYN: only a random nonce and the protocol version, since it may be addressed to '*'. */
const syn = z.object({ pc: z.literal(PROTOCOL_VERSION), k: z.literal('s'), n: token })
/** ACK: the leader's answer, sent to the concrete origin with the private port attached. */
const ack = z.object({
  pc: z.literal(PROTOCOL_VERSION),
  k: z.literal('a'),
  n: token,
  l: token,
  c: z.string().check(z.maxLength(MAX_NAME)),
})
const linkMessage = z.discriminatedUnion('k', [syn, ack])

export type Syn = z.infer<typeof syn>
export type Ack = z.infer<typeof ack>
export type LinkMessage = z.infer<typeof linkMessage>

/** The wire form of an error; read defensively by the error codec. */
const wireError = z.record(z.string(), z.unknown())

const fin = z.object({ k: z.literal('f') })
const call = z.object({ k: z.literal('c'), i: token, m: name, a: z.array(z.unknown()) })
const result = z.object({ k: z.literal('r'), i: token, v: z.unknown() })
const failure = z.object({ k: z.literal('e'), i: token, e: wireError })
const abort = z.object({ k: z.literal('q'), i: token })
const event = z.object({ k: z.literal('v'), m: name, d: z.unknown() })
const close = z.object({ k: z.literal('x'), r: z.enum(['closed', 'unload']) })
const sessionMessage = z.discriminatedUnion('k', [fin, call, result, failure, abort, event, close])

export type Fin = z.infer<typeof fin>
export type CallMessage = z.infer<typeof call>
export type ResultMessage = z.infer<typeof result>
export type FailureMessage = z.infer<typeof failure>
export type AbortMessage = z.infer<typeof abort>
export type EventMessage = z.infer<typeof event>
export type CloseMessage = z.infer<typeof close>
export type SessionMessage = z.infer<typeof sessionMessage>
export type WireError = z.infer<typeof wireError>

/** The outcome of reading a link message. */
export type LinkParse =
  | { readonly ok: true; readonly message: LinkMessage }
  | { readonly ok: false; readonly reason: 'schema' | 'version'; readonly detail: string }

function isRecord(data: unknown): data is Record<string, unknown> {
  return typeof data === 'object' && data !== null
}

/** Reads a handshake message; a different `pc` is reported as a version mismatch. */
export function parseLinkMessage(data: unknown): LinkParse {
  if (isRecord(data) && typeof data.pc === 'number' && data.pc !== PROTOCOL_VERSION) {
    return {
      ok: false,
      reason: 'version',
      detail: `peer speaks portcullis protocol v${data.pc}, this side speaks v${PROTOCOL_VERSION}`,
    }
  }
  const parsed = linkMessage.safeParse(data)
  if (parsed.success) return { ok: true, message: parsed.data }
  return { ok: false, reason: 'schema', detail: 'not a portcullis handshake message' }
}

/**
 * The user data a session message carries (call arguments, a result, an
 * error, an event payload), read without parsing: it is measured against the
 * limits before the message is parsed, since parsing walks it too (`a` is an
 * array schema, and an empty array of length 2^32 - 1 is a few bytes on the
 * wire).
 */
export function payloadOf(data: unknown): unknown {
  if (!isRecord(data)) return undefined
  switch (data.k) {
    case 'c':
      return data.a
    case 'r':
      return data.v
    case 'e':
      return data.e
    case 'v':
      return data.d
    default:
      return undefined
  }
}

// Only the declared keys are read, so this costs the same whatever the payload holds.
const header = z.object({ k: z.enum(['c', 'r', 'e', 'v']), i: z.optional(token), m: z.optional(name) })
export type SessionHeader = z.infer<typeof header>

/** What is needed to answer a message refused before parsing: its kind, call id and method. */
export function parseSessionHeader(data: unknown): SessionHeader | undefined {
  const parsed = header.safeParse(data)
  return parsed.success ? parsed.data : undefined
}

/** Reads a session message, or returns undefined when it is malformed. */
export function parseSessionMessage(data: unknown): SessionMessage | undefined {
  const parsed = sessionMessage.safeParse(data)
  return parsed.success ? parsed.data : undefined
}
