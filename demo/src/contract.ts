// The contract of the demo, imported by both windows: the shop page (host)
// and the checkout widget it embeds from another site.
import { defineContract } from 'portcullis'
import * as z from 'zod'

// The demo pages forbid eval in their Content-Security-Policy; without this,
// zod probes for eval once and the browser reports the blocked attempt.
z.config({ jitless: true })

export const Theme = z.enum(['light', 'dark'])
export type Theme = z.infer<typeof Theme>

export const Profile = z.object({
  name: z.string(),
  email: z.email(),
  memberSince: z.number().int(),
})

export const CartItem = z.object({
  sku: z.string(),
  name: z.string(),
  price: z.number().nonnegative(),
  qty: z.number().int().positive(),
})

export const Cart = z.object({ items: z.array(CartItem) })
export type Cart = z.infer<typeof Cart>

/** What the widget (on its own site) serves to the shop, and the events it emits. */
export const widgetApi = defineContract({
  methods: {
    getProfile: { input: z.tuple([]), output: Profile },
    setTheme: { input: z.tuple([Theme]), output: z.object({ theme: Theme }) },
    /** Slow on purpose (about 1.5 s): the shop calls it with a short timeout. */
    quoteShipping: {
      input: z.tuple([z.string().regex(/^\d{5}$/, 'a 5-digit postcode')]),
      output: z.object({ price: z.number(), days: z.number().int() }),
    },
  },
  events: {
    /** The widget's content height, so the shop can size the iframe. */
    resized: z.object({ height: z.number().int().nonnegative() }),
    /** Messages the widget's gate refused since its last report, by origin and reason (for the demo's panel). */
    refused: z.object({
      origin: z.string(),
      reason: z.string(),
      detail: z.string(),
      count: z.number().int().positive(),
    }),
  },
})

/** What the shop serves to the widget, and the events it emits. */
export const shopApi = defineContract({
  methods: {
    getCart: { input: z.tuple([]), output: Cart },
    checkout: {
      input: z.tuple([z.object({ cardLast4: z.string().regex(/^\d{4}$/, 'the last 4 digits of the card') })]),
      output: z.object({ orderId: z.string(), total: z.number() }),
    },
  },
  events: {
    cartChanged: Cart,
  },
})
