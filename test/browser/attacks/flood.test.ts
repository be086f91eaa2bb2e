/**
 * Property 9: a flood from a disallowed origin (10,000 well-formed messages a
 * second, at each of the two windows) gets no reply and does not slow
 * legitimate calls beyond noise. The p95 of sequential calls is measured with
 * and without the flood, in alternating rounds, and printed for the record.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Driver, launch, origins } from '../harness/driver.js'
import { addAttackFrame, openAttackPage, read, run, waitFor } from './support.js'

let driver: Driver
const { A, B, D } = origins()
const json = JSON.stringify

const RATE = 10_000 // messages per second, to each victim window
const PHASE_MS = 400 // sequential calls for this long, with and without the flood, in each round
const ROUNDS = 2

beforeAll(async () => {
  driver = await launch()
})
afterAll(async () => {
  await driver?.close()
})

function p95(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.95) - 1)] as number
}

describe('a flood from a disallowed origin', () => {
  it('gets no reply and does not slow legitimate calls beyond noise', async () => {
    const { page } = await openAttackPage(driver, A)
    const child = await addAttackFrame(page, B, 'child', { allow: A, rej: 'count' }, 'child')
    await run(
      page,
      `(attack.open({ target: 'child', allow: [${json(B)}], serve: 'host', remote: 'victim', rejections: 'count' }), 0)`,
    )
    await run(page, `t.conn.ready.then(() => 1)`)
    // The attacker is a sibling frame of another site than the parent.
    const attacker = await addAttackFrame(page, D, 'hostile', {}, 'attacker')
    await run(page, `attack.timeCalls(50)`) // warm up

    const without: number[] = []
    const withFlood: number[] = []
    let sent = 0
    let floodMs = 0
    for (let round = 0; round < ROUNDS; round++) {
      without.push(...(await run<number[]>(page, `attack.timeCalls(Infinity, ${PHASE_MS})`)))
      await run(attacker, `(attack.startFlood('parent,frame:child', ${RATE}), 0)`)
      await waitFor(attacker, `t.flood.sent >= ${RATE / 10}`) // the flood is in full swing
      withFlood.push(...(await run<number[]>(page, `attack.timeCalls(Infinity, ${PHASE_MS})`)))
      const flood = await run<{ sent: number; ms: number }>(attacker, `attack.stopFlood()`)
      sent += flood.sent
      floodMs += flood.ms
    }

    // Every flood message reached both windows and was refused there (at the gate: nothing was answered).
    await waitFor(page, `t.rejectionCount >= ${sent}`, 20_000)
    await waitFor(child, `t.rejectionCount >= ${sent}`, 20_000)
    await run(page, `(document.getElementById('attacker').contentWindow.postMessage({ probe: 1 }, '*'), 0)`)
    await waitFor(attacker, `t.inbox.some((m) => m.data && m.data.probe === 1)`)
    expect(await read(attacker, 't.inbox.length')).toBe(1)
    expect(await read(attacker, 't.portInbox')).toEqual([])
    expect(await read(child, 't.counts')).toEqual({ add: 50 + without.length + withFlood.length })
    expect(await read(page, 't.counts')).toEqual({})

    const rate = Math.round(sent / (floodMs / 1000))
    const base = p95(without)
    const flooded = p95(withFlood)
    const bound = Math.max(5 * base, base + 20)
    console.log(
      `flood: ${rate} msg/s to each of 2 windows (${sent} each); p95 of sequential add() calls: ` +
        `${base.toFixed(2)} ms without (${without.length} calls), ${flooded.toFixed(2)} ms with the flood (${withFlood.length} calls) (bound ${bound.toFixed(2)} ms); ` +
        `medians ${median(without).toFixed(2)} / ${median(withFlood).toFixed(2)} ms`,
    )
    expect(rate).toBeGreaterThanOrEqual(RATE * 0.9)
    expect(flooded).toBeLessThan(bound)
    await page.close()
  })
})

function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] as number
}
