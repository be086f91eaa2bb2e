import { afterEach, describe, expect, it, vi } from 'vitest'
import * as z from 'zod'
import { EventHub } from '../../src/rpc/event-hub.js'
import type { Rejection } from '../../src/transport/transport.js'
import { until } from './helpers.js'

const schemas = {
  resized: z.object({ height: z.number() }),
  parsed: z.string().transform((s) => s.length),
  slow: z.number().refine(async (n) => n > 0, 'positive'),
}

function setup() {
  const rejections: Rejection[] = []
  const hub = new EventHub(schemas, (r) => rejections.push(r))
  return { hub, rejections }
}

afterEach(() => {
  vi.restoreAllMocks()
})

describe('EventHub', () => {
  it('delivers a validated payload to every listener of that event only', () => {
    const { hub, rejections } = setup()
    const a = vi.fn()
    const b = vi.fn()
    const other = vi.fn()
    hub.on('resized', a)
    hub.on('resized', b)
    hub.on('parsed', other)
    hub.deliver('resized', { height: 10, extra: 'stripped' })
    expect(a).toHaveBeenCalledWith({ height: 10 })
    expect(b).toHaveBeenCalledWith({ height: 10 })
    expect(other).not.toHaveBeenCalled()
    expect(rejections).toEqual([])
  })

  it('hands listeners the parsed (transformed) payload', () => {
    const { hub } = setup()
    const listener = vi.fn()
    hub.on('parsed', listener)
    hub.deliver('parsed', 'four')
    expect(listener).toHaveBeenCalledWith(4)
  })

  it('drops an invalid payload, reports it, and calls no listener', () => {
    const { hub, rejections } = setup()
    const listener = vi.fn()
    hub.on('resized', listener)
    hub.deliver('resized', { height: 'tall' })
    expect(listener).not.toHaveBeenCalled()
    expect(rejections).toEqual([{ reason: 'schema', detail: expect.stringMatching(/^event "resized": /) }])
  })

  it('drops and reports an event the contract does not declare, including prototype names', () => {
    const { hub, rejections } = setup()
    for (const name of ['nope', 'toString', '__proto__', 'constructor']) hub.deliver(name, {})
    expect(rejections.map((r) => r.detail)).toEqual([
      'undeclared event "nope"',
      'undeclared event "toString"',
      'undeclared event "__proto__"',
      'undeclared event "constructor"',
    ])
  })

  it('validates asynchronous schemas before delivering', async () => {
    const { hub, rejections } = setup()
    const listener = vi.fn()
    hub.on('slow', listener)
    hub.deliver('slow', 5)
    hub.deliver('slow', -5)
    expect(listener).not.toHaveBeenCalled()
    await until(() => listener.mock.calls.length === 1 && rejections.length === 1)
    expect(listener).toHaveBeenCalledWith(5)
    expect(rejections[0]).toEqual({ reason: 'schema', detail: 'event "slow": positive' })
  })

  it('on() throws a TypeError for an undeclared event', () => {
    const { hub } = setup()
    expect(() => hub.on('nope', () => {})).toThrow(
      new TypeError('on("nope"): the remote contract declares no such event'),
    )
    expect(() => hub.on('toString', () => {})).toThrow(TypeError)
  })

  it('on() returns an unsubscribe function', () => {
    const { hub } = setup()
    const listener = vi.fn()
    const off = hub.on('resized', listener)
    off()
    off()
    hub.deliver('resized', { height: 1 })
    expect(listener).not.toHaveBeenCalled()
  })

  it('a listener that unsubscribes another during delivery does not skip or break the round', () => {
    const { hub } = setup()
    const second = vi.fn()
    let offSecond = () => {}
    hub.on('resized', () => offSecond())
    offSecond = hub.on('resized', second)
    hub.deliver('resized', { height: 1 })
    expect(second).toHaveBeenCalledTimes(1)
    hub.deliver('resized', { height: 2 })
    expect(second).toHaveBeenCalledTimes(1)
  })

  it('coverage: a listener added during delivery hears the next event, not this one; one added twice is called once', () => {
    const { hub } = setup()
    const late = vi.fn()
    const twice = vi.fn()
    hub.on('resized', twice)
    hub.on('resized', twice)
    hub.on('resized', () => hub.on('resized', late))
    hub.deliver('resized', { height: 1 })
    expect(late).not.toHaveBeenCalled()
    expect(twice).toHaveBeenCalledTimes(1)
    hub.deliver('resized', { height: 2 })
    expect(late).toHaveBeenCalledTimes(1)
    expect(twice).toHaveBeenCalledTimes(2)
  })

  it('a throwing listener does not stop the others, and its error is rethrown outside', () => {
    const { hub } = setup()
    const deferred: Array<() => void> = []
    vi.spyOn(globalThis, 'queueMicrotask').mockImplementation((task) => {
      deferred.push(task)
    })
    const after = vi.fn()
    hub.on('resized', () => {
      throw new Error('listener bug')
    })
    hub.on('resized', after)
    expect(() => hub.deliver('resized', { height: 1 })).not.toThrow()
    expect(after).toHaveBeenCalledTimes(1)
    expect(deferred).toHaveLength(1)
    expect(() => deferred[0]!()).toThrow('listener bug')
  })

  it('clear() removes every listener', () => {
    const { hub } = setup()
    const listener = vi.fn()
    hub.on('resized', listener)
    hub.clear()
    hub.deliver('resized', { height: 1 })
    expect(listener).not.toHaveBeenCalled()
  })
})
