import * as z from 'zod'
import { defineContract } from '../../../src/index.js'

/** What the child frame serves in the browser tests. */
export const childApi = defineContract({
  methods: {
    add: { input: z.tuple([z.number(), z.number()]), output: z.number() },
    echo: { input: z.tuple([z.unknown()]), output: z.unknown() },
    /** Resolves after `ms`, or rejects when the caller aborts. */
    slow: { input: z.tuple([z.number()]), output: z.string() },
    /** Throws an error with own data and a cause. */
    fail: { input: z.tuple([z.string()]), output: z.never() },
    /** Returns a value that breaks its own output schema. */
    badResult: { input: z.tuple([]), output: z.number() },
    /** Calls back into the parent, to test both directions on one connection. */
    askParent: { input: z.tuple([z.string()]), output: z.string() },
  },
  events: { resized: z.object({ height: z.number() }) },
})

/** What the parent page serves. */
export const parentApi = defineContract({
  methods: {
    greet: { input: z.tuple([z.string()]), output: z.string() },
  },
  events: { theme: z.enum(['light', 'dark']) },
})

/** The child's contract as a parent with a stricter idea of `add` sees it: the result must be a string. */
export const strictChildApi = defineContract({
  methods: {
    add: { input: z.tuple([z.number(), z.number()]), output: z.string() },
  },
})

/** What a peer serves in the lifecycle tests (iframes, popups, workers, channels). */
export const peerApi = defineContract({
  methods: {
    add: { input: z.tuple([z.number(), z.number()]), output: z.number() },
    /** Which peer answered: the `label` it was started with. */
    whoami: { input: z.tuple([]), output: z.string() },
    slow: { input: z.tuple([z.number()]), output: z.string() },
    /** Returns the buffer's length, and the buffer itself moved back when `give` is set. */
    takeBuffer: {
      input: z.tuple([z.instanceof(ArrayBuffer), z.boolean()]),
      output: z.object({ length: z.number(), buffer: z.optional(z.instanceof(ArrayBuffer)) }),
    },
  },
  events: { hello: z.object({ label: z.string() }) },
})

/** What the page serves to its peers in the lifecycle tests. */
export const hostApi = defineContract({
  methods: {},
  events: { ping: z.object({ n: z.number() }) },
})
