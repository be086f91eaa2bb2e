// What every contender implements, and the payloads the benchmark sends.

/** The parent's handle on one connected child, whatever library carries the calls. */
export interface Client {
  add(a: number, b: number): Promise<number>
  /** Echo through a schema-free method (portcullis: `z.unknown()`). */
  echo(value: unknown): Promise<unknown>
  /** Echo through a realistic nested schema; only portcullis validates, so only it implements this. */
  echoNested?(value: Catalog): Promise<unknown>
  /** Echo of a binary buffer, copied (structured clone) or transferred both ways. */
  echoBuf(buf: ArrayBuffer, move: boolean): Promise<ArrayBuffer>
  close(): void
}

/** The parent side of one contender: starts connecting to a freshly inserted iframe. */
export interface Contender {
  readonly name: string
  /** Called synchronously right after the iframe is appended; resolves once calls can be made. */
  connect(iframe: HTMLIFrameElement, childOrigin: string): Promise<Client>
}

/** The child side: the methods every contender serves. */
export const api = {
  add: (a: number, b: number): number => a + b,
  echo: (value: unknown): unknown => value,
}

/** One item of the ~1 MB JSON-like payload. */
export interface Item {
  id: string
  name: string
  price: number
  qty: number
  active: boolean
  tags: string[]
  dims: { w: number; h: number; d: number }
  vendor: { id: string; name: string; country: string; rating: number | null }
  created: string
  notes?: string
}

export interface Catalog {
  version: number
  generated: string
  items: Item[]
}

const WORDS = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet']

/** A deterministic JSON-like object whose JSON text is about `targetBytes` long. */
export function makeCatalog(targetBytes: number): Catalog {
  const items: Item[] = []
  const catalog: Catalog = { version: 3, generated: '2026-01-01T00:00:00.000Z', items }
  let bytes = 60
  for (let i = 0; bytes < targetBytes; i++) {
    const w = (k: number) => WORDS[(i * 7 + k) % WORDS.length] as string
    const item: Item = {
      id: `item-${String(i).padStart(6, '0')}`,
      name: `${w(1)} ${w(2)} ${w(3)} model ${i}`,
      price: Math.round(((i * 7919) % 100000) + 99) / 100,
      qty: i % 17,
      active: i % 3 !== 0,
      tags: [w(4), w(5), w(6)],
      dims: { w: (i % 50) / 10, h: (i % 30) / 10, d: (i % 20) / 10 },
      vendor: {
        id: `v-${i % 97}`,
        name: `${w(7)} supplies`,
        country: 'NL',
        rating: i % 5 === 0 ? null : (i % 5) + 0.5,
      },
      created: new Date(Date.UTC(2025, i % 12, (i % 28) + 1)).toISOString(),
    }
    if (i % 4 === 0) item.notes = `restocked by ${w(8)} on day ${i % 365}`
    items.push(item)
    bytes += JSON.stringify(item).length + 1
  }
  return catalog
}

/** A buffer of `bytes` bytes with a recognisable first and last byte. */
export function makeBuffer(bytes: number): ArrayBuffer {
  const buf = new ArrayBuffer(bytes)
  const view = new Uint8Array(buf)
  view[0] = 7
  view[bytes - 1] = 9
  return buf
}

/** Reads the `parent` query parameter: the origin of the page that framed this child. */
export function parentOrigin(): string {
  const origin = new URLSearchParams(location.search).get('parent')
  if (!origin) throw new Error('bench child: ?parent=<origin> is required')
  return origin
}
