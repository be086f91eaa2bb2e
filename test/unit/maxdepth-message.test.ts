import { expect, it } from 'vitest'
import { connect } from '../../src/connect.js'
import { defineContract } from '../../src/contract.js'
import { jsonpHandler } from '../../src/fallback/jsonp-server.js'

// maxDepth has a ceiling of 1000: its errors must not suggest Infinity, which is refused.
it.each([0, -1, Number.NaN, '5'])('a maxDepth of %s is refused without suggesting Infinity', (maxDepth) => {
  const { port1 } = new MessageChannel()
  expect(() => connect({ target: port1, maxDepth: maxDepth as number })).toThrow(
    /^connect\(\): maxDepth must be a positive number, got /,
  )
  expect(() => jsonpHandler(defineContract({}), {}, { maxDepth: maxDepth as number })).toThrow(
    /maxDepth must be a positive number, got [^(]*$/,
  )
  port1.close()
})

it('a maxDepth of Infinity is refused as above the ceiling', () => {
  const { port1 } = new MessageChannel()
  expect(() => connect({ target: port1, maxDepth: Number.POSITIVE_INFINITY })).toThrow(/above 1000/)
  port1.close()
})
