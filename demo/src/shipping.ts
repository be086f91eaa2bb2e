// The contract of the demo's JSONP endpoint, served by demo/server.mjs on the
// widget's origin (another site) and called by the shop page with
// `jsonpClient`. The server imports this same file (bundled at startup), so
// both sides validate against the same schemas.
//
// JSONP: the response is a script that ANY origin may include and read, so
// this endpoint serves public data only (a rate card), never anything per user.
import { defineContract } from 'portcullis'
import * as z from 'zod'

export const Country = z.string().regex(/^[A-Z]{2}$/, 'a two-letter country code')

export const ShippingRate = z.object({
  carrier: z.string(),
  price: z.number().nonnegative(),
  days: z.number().int().positive(),
})

/** Public shipping rates, served over JSONP by the widget's site. */
export const shippingApi = defineContract({
  methods: {
    rates: { input: z.tuple([Country]), output: z.array(ShippingRate).min(1) },
  },
})
