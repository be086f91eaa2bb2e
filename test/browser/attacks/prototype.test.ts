/**
 * Property 7: the remote side cannot reach anything that is not a declared
 * handler. `__proto__`, `constructor`, `toString`, `hasOwnProperty` and other
 * prototype paths run nothing, and payload keys like `__proto__` pollute
 * nothing, on either side.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Driver, launch, origins } from '../harness/driver.js'
import { addAttackFrame, openAttackPage, read, run, waitFor } from './support.js'

let driver: Driver
const { A, B } = origins()
const json = JSON.stringify

beforeAll(async () => {
  driver = await launch()
})
afterAll(async () => {
  await driver?.close()
})

const PROTOTYPE_NAMES = [
  '__proto__',
  'constructor',
  'toString',
  'hasOwnProperty',
  'valueOf',
  'isPrototypeOf',
  'propertyIsEnumerable',
  'toLocaleString',
  '__defineGetter__',
  '__defineSetter__',
  '__lookupGetter__',
  'then',
  'prototype',
]

/** A JSON text whose parse has an own `__proto__` key (an object literal would set the prototype instead). */
const POISON = '{"__proto__":{"polluted":1,"isAdmin":true},"constructor":{"prototype":{"polluted":1}},"name":"x"}'

describe.concurrent('prototype paths', () => {
  it('a rogue peer calling prototype names runs nothing; its polluting payloads pollute nothing', async () => {
    const { page } = await openAttackPage(driver, A)
    const rogue = await addAttackFrame(page, B, 'rogue', { parent: A }, 'child')
    await run(page, `(attack.open({ target: 'child', allow: [${json(B)}], serve: 'host', remote: 'victim' }), 0)`)
    expect(await run(page, `t.conn.ready.then(() => 'open')`)).toBe('open')

    // Every prototype name as a method, with and without arguments, then one legitimate call.
    await run(
      rogue,
      `(${json(PROTOTYPE_NAMES)}.forEach((m, n) => {
        rogue.send({ k: 'c', i: 'proto-' + n, m, a: [] })
        rogue.send({ k: 'c', i: 'proto-args-' + n, m, a: ['polluted', 1] })
      }), rogue.send({ k: 'c', i: 'legit-1', m: 'greet', a: ['rogue'] }), 0)`,
    )
    await waitFor(rogue, `t.portInbox.some((m) => m.i === 'legit-1')`)
    const replies = await read<any[]>(rogue, `t.portInbox.filter((m) => m.i && m.i.startsWith('proto-'))`)
    // Each gets exactly one answer, and it is "no such method": nothing ran, nothing was returned.
    expect(replies).toHaveLength(PROTOTYPE_NAMES.length * 2)
    for (const reply of replies) {
      expect(reply.k).toBe('e')
      expect(reply.e.n).toBe('MethodNotFoundError')
    }
    expect(await read(rogue, `t.portInbox.find((m) => m.i === 'legit-1')`)).toEqual({
      k: 'r',
      i: 'legit-1',
      v: 'hello rogue',
    })
    expect(await read(page, 't.counts')).toEqual({ greet: 1 })
    expect(await read(page, `t.rejections.filter((r) => r.reason === 'unknown-method').length`)).toBe(
      PROTOTYPE_NAMES.length * 2,
    )

    // Prototype names as events, and poisoned payloads: as an argument, at the envelope level,
    // inside an event, a result and an error's data. Each is built with JSON.parse in the rogue's page.
    const raw = [
      `{"k":"c","i":"poison-arg","m":"echo","a":[${POISON}]}`,
      '{"k":"c","i":"poison-env","m":"greet","a":["env"],"__proto__":{"polluted":1,"m":"echo"}}',
      '{"__proto__":{"k":"c","i":"poison-only","m":"greet","a":["x"]}}',
      '{"k":"v","m":"note","d":{"text":"hi","__proto__":{"polluted":1}}}',
    ]
    await run(
      rogue,
      `(${json(PROTOTYPE_NAMES)}.forEach((m) => rogue.send({ k: 'v', m, d: { polluted: 1 } })),
        ${json(raw)}.forEach((text) => rogue.sendJson(text)),
        rogue.send({ k: 'c', i: 'legit-2', m: 'greet', a: ['again'] }), 0)`,
    )
    await waitFor(rogue, `t.portInbox.some((m) => m.i === 'legit-2')`)
    const byId = (i: string) => read(rogue, `t.portInbox.filter((m) => m.i === ${json(i)})`)
    // echo ran once and sent back the own "__proto__" key as data, not as a prototype.
    expect(await byId('poison-arg')).toEqual([
      {
        k: 'r',
        i: 'poison-arg',
        v: {
          '[own __proto__]': { polluted: 1, isAdmin: true },
          constructor: { prototype: { polluted: 1 } },
          name: 'x',
        },
      },
    ])
    // An extra envelope key changed nothing (greet ran, not echo); a message made only of "__proto__" is malformed.
    expect(await byId('poison-env')).toEqual([{ k: 'r', i: 'poison-env', v: 'hello env' }])
    expect(await byId('poison-only')).toEqual([])
    // The event reached its listener with the declared shape only.
    await waitFor(page, `t.events.length >= 1`)
    expect(await read(page, 't.events')).toEqual([{ name: 'note', payload: { text: 'hi' } }])
    expect(await read(page, 't.counts')).toEqual({ greet: 3, echo: 1 })

    // The rogue answers the parent's calls with poisoned results and errors. The error's "__proto__"
    // carries a code and a stack, as if they could be inherited.
    const poisonedResult = `{"k":"r","i":"@ID@","v":${POISON}}`
    const poisonedError = `{"k":"e","i":"@ID@","e":{"n":"Error","m":"no","__proto__":{"c":"LIMIT","s":"at evil (http://evil/)"},"d":${POISON},"x":{"n":"E","m":"cause","d":{"__proto__":{"polluted":1}}}}}`
    await run(
      rogue,
      `(rogue.onCall = (m) => rogue.sendJson((m.m === 'echo' ? ${json(poisonedResult)} : ${json(poisonedError)}).replace('@ID@', m.i)), 0)`,
    )
    const result = await run(
      page,
      `t.conn.remote.echo(1).then((v) => ({ own: Object.keys(v), proto: Object.getPrototypeOf(v) === Object.prototype, polluted: v.polluted, admin: v.isAdmin }))`,
    )
    expect(result).toEqual({ own: ['__proto__', 'constructor', 'name'], proto: true })
    const error = await run(
      page,
      `t.conn.remote.add(1, 2).catch((e) => ({ code: e.code, name: e.name, remoteStack: e.remoteStack, dataProto: Object.getPrototypeOf(e.data) === Object.prototype, polluted: e.data.polluted, causeProto: Object.getPrototypeOf(e.cause.data) === Object.prototype }))`,
    )
    expect(error).toEqual({ code: 'REMOTE', name: 'RemoteError', dataProto: true, causeProto: true })

    // Nothing leaked onto Object.prototype on either side.
    expect(await run(page, 't.polluted()')).toEqual([])
    expect(await run(rogue, 't.polluted()')).toEqual([])
    expect(await run(page, `({}).polluted === undefined && ({}).isAdmin === undefined`)).toBe(true)
    await page.close()
  })

  it('between two real peers: the proxy has no prototype names, and poisoned payloads pollute neither side', async () => {
    const { page } = await openAttackPage(driver, A)
    const child = await addAttackFrame(page, B, 'child', { allow: A }, 'child')
    await run(page, `(attack.open({ target: 'child', allow: [${json(B)}], serve: 'host', remote: 'victim' }), 0)`)
    await run(page, `t.conn.ready.then(() => 1)`)

    // The typed proxy is a null-prototype object: there is no way to even form such a call.
    const proxy = await run(
      page,
      `${json(PROTOTYPE_NAMES)}.map((name) => typeof t.conn.remote[name]).concat(Object.getPrototypeOf(t.conn.remote) === null)`,
    )
    expect(proxy).toEqual([...PROTOTYPE_NAMES.map(() => 'undefined'), true])

    // Poisoned values through echo (unknown), profile (an object schema) and tags (a record schema), both ways.
    const poisoned = (method: string) =>
      `attack.call(${json(method)}, [{ $json: ${json(POISON)} }]).then((r) => ({ ok: r.ok, value: r.value }))`
    expect(await run(page, poisoned('echo'))).toEqual({
      ok: true,
      value: {
        '[own __proto__]': { polluted: 1, isAdmin: true },
        constructor: { prototype: { polluted: 1 } },
        name: 'x',
      },
    })
    expect(await run(page, poisoned('profile'))).toEqual({ ok: true, value: { name: 'x' } })
    expect(
      await run(page, `attack.call('tags', [{ $json: '{"__proto__":{"polluted":1},"a":1}' }]).then((r) => r.value)`),
    ).toEqual(['a'])
    expect(await run(child, poisoned('echo'))).toMatchObject({ ok: true })
    expect(await read(child, 't.counts')).toEqual({ echo: 1, profile: 1, tags: 1 })
    expect(await read(page, 't.counts')).toEqual({ echo: 1 })

    expect(await run(page, 't.polluted()')).toEqual([])
    expect(await run(child, 't.polluted()')).toEqual([])
    await page.close()
  })
})
