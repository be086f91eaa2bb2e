import { describe, expect, it } from 'vitest'
import { PROTOCOL_VERSION, parseLinkMessage, parseSessionMessage } from '../../src/protocol/envelope.js'

describe('link messages (handshake)', () => {
  const syn = { pc: PROTOCOL_VERSION, k: 's', n: 'nonce-1' }
  const ack = { pc: PROTOCOL_VERSION, k: 'a', n: 'nonce-1', l: 'nonce-2', c: '' }

  it('accepts a SYN and an ACK', () => {
    expect(parseLinkMessage(syn)).toEqual({ ok: true, message: syn })
    expect(parseLinkMessage(ack)).toEqual({ ok: true, message: ack })
    expect(parseLinkMessage({ ...ack, c: 'payments' })).toEqual({ ok: true, message: { ...ack, c: 'payments' } })
  })

  it('strips unknown keys, so nothing extra rides along', () => {
    const parsed = parseLinkMessage({ ...syn, secret: 'x' })
    expect(parsed).toEqual({ ok: true, message: syn })
  })

  it.each([
    ['another protocol version', { ...syn, pc: PROTOCOL_VERSION + 1 }],
    ['an older protocol version', { ...ack, pc: 0 }],
    ['a version and nothing else', { pc: 99 }],
  ])('reports %s as a version mismatch naming both versions', (_, message) => {
    const parsed = parseLinkMessage(message)
    expect(parsed.ok).toBe(false)
    if (parsed.ok) return
    expect(parsed.reason).toBe('version')
    expect(parsed.detail).toContain(`v${(message as { pc: number }).pc}`)
    expect(parsed.detail).toContain(`v${PROTOCOL_VERSION}`)
  })

  it.each([
    ['null', null],
    ['a string', 'hello'],
    ['a number', 1],
    ['an array', [PROTOCOL_VERSION, 's', 'n']],
    ['another library message', { type: 'webpackOk' }],
    ['a string version', { ...syn, pc: String(PROTOCOL_VERSION) }],
    ['no kind', { pc: PROTOCOL_VERSION, n: 'x' }],
    ['an unknown kind', { ...syn, k: 'z' }],
    ['a session kind on the link', { pc: PROTOCOL_VERSION, k: 'c', i: 'a', m: 'b', a: [] }],
    ['an empty nonce', { ...syn, n: '' }],
    ['a long nonce', { ...syn, n: 'x'.repeat(65) }],
    ['a non-string nonce', { ...syn, n: 7 }],
    ['an ACK without the leader nonce', { pc: PROTOCOL_VERSION, k: 'a', n: 'a', c: '' }],
    ['an ACK without a channel', { pc: PROTOCOL_VERSION, k: 'a', n: 'a', l: 'b' }],
    ['an ACK with a long channel', { ...ack, c: 'c'.repeat(257) }],
  ])('refuses %s as a schema error', (_, message) => {
    expect(parseLinkMessage(message)).toEqual({
      ok: false,
      reason: 'schema',
      detail: 'not a portcullis handshake message',
    })
  })

  it('accepts a nonce of exactly 64 characters and a channel of 256', () => {
    expect(parseLinkMessage({ ...syn, n: 'x'.repeat(64) }).ok).toBe(true)
    expect(parseLinkMessage({ ...ack, c: 'c'.repeat(256) }).ok).toBe(true)
  })
})

describe('session messages', () => {
  it.each([
    ['fin', { k: 'f' }],
    ['call', { k: 'c', i: 'id1', m: 'add', a: [1, 2] }],
    ['call without arguments', { k: 'c', i: 'id1', m: 'add', a: [] }],
    ['result', { k: 'r', i: 'id1', v: 3 }],
    ['result of undefined', { k: 'r', i: 'id1', v: undefined }],
    ['error', { k: 'e', i: 'id1', e: { n: 'Error', m: 'boom' } }],
    ['abort', { k: 'q', i: 'id1' }],
    ['event', { k: 'v', m: 'resized', d: { height: 1 } }],
    ['close', { k: 'x', r: 'closed' }],
    ['close on unload', { k: 'x', r: 'unload' }],
  ])('accepts a %s', (_, message) => {
    expect(parseSessionMessage(message)).toEqual(message)
  })

  it.each([
    ['null', null],
    ['undefined', undefined],
    ['a string', 'c'],
    ['an unknown kind', { k: 'z' }],
    ['a link message', { pc: PROTOCOL_VERSION, k: 's', n: 'x' }],
    ['a call without an id', { k: 'c', m: 'add', a: [] }],
    ['a call with an empty id', { k: 'c', i: '', m: 'add', a: [] }],
    ['a call with a long id', { k: 'c', i: 'i'.repeat(65), m: 'add', a: [] }],
    ['a call with an empty method', { k: 'c', i: 'a', m: '', a: [] }],
    ['a call with a long method name', { k: 'c', i: 'a', m: 'm'.repeat(257), a: [] }],
    ['a call whose arguments are not an array', { k: 'c', i: 'a', m: 'add', a: { 0: 1 } }],
    ['a call with a numeric id', { k: 'c', i: 1, m: 'add', a: [] }],
    ['a result without an id', { k: 'r', v: 1 }],
    ['an error without its error', { k: 'e', i: 'a' }],
    ['an error whose error is a string', { k: 'e', i: 'a', e: 'boom' }],
    ['an abort without an id', { k: 'q' }],
    ['an event without a name', { k: 'v', d: 1 }],
    ['a close with an unknown reason', { k: 'x', r: 'whatever' }],
  ])('refuses %s', (_, message) => {
    expect(parseSessionMessage(message)).toBeUndefined()
  })
})
