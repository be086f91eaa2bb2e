import * as z from 'zod'
import { defineContract } from '../../../src/index.js'

/** What the JSONP client expects of the test server. */
export const jsonpApi = defineContract({
  methods: {
    add: { input: z.tuple([z.number(), z.number()]), output: z.number() },
    echo: { input: z.tuple([z.string()]), output: z.string() },
    fail: { input: z.tuple([z.string()]), output: z.never() },
    /** The client expects a number; the server's contract says string. */
    wrongType: { input: z.tuple([]), output: z.number() },
    /** The server's handler breaks its own output schema. */
    badResult: { input: z.tuple([]), output: z.number() },
    /** The server's handler never settles. */
    stuck: { input: z.tuple([]), output: z.number() },
  },
})

/** What the JSONP test server serves: the same, except `wrongType` answers a string. */
export const jsonpServerApi = defineContract({
  methods: {
    ...jsonpApi.methods,
    wrongType: { input: z.tuple([]), output: z.string() },
  },
})
