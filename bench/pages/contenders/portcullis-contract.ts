import * as z from 'zod'
import { defineContract } from '../../../src/index.js'

// Imported from src for the type checker; the bench's esbuild plugin swaps it for the built dist/index.js.

/** A realistic nested schema for the ~1 MB catalog (see makeCatalog). */
export const Catalog = z.object({
  version: z.number().int(),
  generated: z.string(),
  items: z.array(
    z.object({
      id: z.string().min(1),
      name: z.string(),
      price: z.number().nonnegative(),
      qty: z.number().int(),
      active: z.boolean(),
      tags: z.array(z.string()),
      dims: z.object({ w: z.number(), h: z.number(), d: z.number() }),
      vendor: z.object({
        id: z.string(),
        name: z.string(),
        country: z.string().length(2),
        rating: z.number().nullable(),
      }),
      created: z.string(),
      notes: z.string().optional(),
    }),
  ),
})

export const childApi = defineContract({
  methods: {
    add: { input: z.tuple([z.number(), z.number()]), output: z.number() },
    echo: { input: z.tuple([z.unknown()]), output: z.unknown() },
    echoNested: { input: z.tuple([Catalog]), output: Catalog },
    echoBuf: { input: z.tuple([z.instanceof(ArrayBuffer), z.boolean()]), output: z.instanceof(ArrayBuffer) },
  },
})

/** Room for the 16 MB buffer copy (the default limit is 32 MiB, estimated; set explicitly so a lower default cannot skew the bench). */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024
