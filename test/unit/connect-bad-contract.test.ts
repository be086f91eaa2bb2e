// A remote that is not a contract (plain JavaScript gets no compile error) is an option mistake like any other.
import { describe, expect, it, vi } from 'vitest'
import * as z from 'zod'
import { connect } from '../../src/connect.js'
import { fakeWindow } from './helpers.js'

describe('connect() with a remote that is not a contract leaves no listener behind', () => {
  it.each([
    ['{}', {}],
    ['a zod schema', z.object({})],
  ])('remote: %s throws a TypeError, and nothing listens', (_, remote) => {
    const onRejected = vi.fn()
    let thrown: unknown
    try {
      connect({
        target: fakeWindow('https://a.example') as never,
        allowedOrigins: ['https://a.example'],
        onRejected,
        remote: remote as never,
      })
    } catch (error) {
      thrown = error
    }
    expect(thrown).toBeInstanceOf(TypeError)
    expect((thrown as Error).message).toBe(
      'connect(): remote must be a contract made by defineContract({ methods, events })',
    )
    // No connection exists, so nothing may listen or report.
    window.dispatchEvent(new MessageEvent('message', { data: 1, origin: 'https://evil.example', source: null }))
    expect(onRejected).not.toHaveBeenCalled()
  })
})

describe('connect() with a local contract that is not a contract', () => {
  it.each([
    ['undefined', undefined],
    ['a zod schema', z.object({})],
  ])('local.contract: %s throws a TypeError that names defineContract()', (_, contract) => {
    expect(() =>
      connect({
        target: fakeWindow('https://a.example') as never,
        allowedOrigins: ['https://a.example'],
        local: { contract: contract as never, handlers: {} as never },
      }),
    ).toThrow('connect(): local.contract must be a contract made by defineContract({ methods, events })')
  })
})
