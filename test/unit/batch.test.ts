import { describe, expect, it, vi } from 'vitest'
import { Batch, isBatch, MAX_BATCH } from '../../src/protocol/batch.js'
import type { Transport } from '../../src/transport/transport.js'

/** A transport that records each post, and throws for any message marked `bad`. */
function recorder() {
  const posts: Array<{ data: any; transfer: Transferable[] | undefined }> = []
  const transport: Transport = {
    post(data: any, transfer) {
      const items = Array.isArray(data) ? data : [data]
      if (items.some((m) => m.bad)) throw new DOMException('could not be cloned', 'DataCloneError')
      posts.push({ data, transfer })
    },
    announce() {},
    listen() {},
    close() {},
  }
  return { posts, transport }
}

const turn = () => new Promise<void>((resolve) => queueMicrotask(resolve))

describe('Batch', () => {
  it('posts a lone message unwrapped, at the end of the turn', async () => {
    const { posts, transport } = recorder()
    const batch = new Batch(transport, 1_000_000)
    batch.queue({ n: 1 }, undefined, vi.fn(), 8)
    expect(posts).toEqual([])
    await turn()
    expect(posts).toEqual([{ data: { n: 1 }, transfer: undefined }])
  })

  it('posts the messages of one turn as one array, with their transfer lists joined', async () => {
    const { posts, transport } = recorder()
    const batch = new Batch(transport, 1_000_000)
    const a = new ArrayBuffer(1)
    const b = new ArrayBuffer(2)
    batch.queue({ n: 1 }, [a], vi.fn(), 8)
    batch.queue({ n: 2 }, undefined, vi.fn(), 8)
    batch.queue({ n: 3 }, [b], vi.fn(), 8)
    await turn()
    expect(posts).toEqual([{ data: [{ n: 1 }, { n: 2 }, { n: 3 }], transfer: [a, b] }])
    batch.queue({ n: 4 }, undefined, vi.fn(), 8)
    await turn()
    expect(posts.at(-1)).toEqual({ data: { n: 4 }, transfer: undefined })
  })

  it(`posts a full batch of ${MAX_BATCH} at once and starts another`, async () => {
    const { posts, transport } = recorder()
    const batch = new Batch(transport, 1_000_000)
    for (let n = 0; n < MAX_BATCH + 3; n++) batch.queue({ n }, undefined, vi.fn(), 8)
    expect(posts).toHaveLength(1)
    expect(posts[0]?.data).toHaveLength(MAX_BATCH)
    await turn()
    expect(posts).toHaveLength(2)
    expect(posts[1]?.data).toEqual([{ n: MAX_BATCH }, { n: MAX_BATCH + 1 }, { n: MAX_BATCH + 2 }])
  })

  it('starts another batch before one would carry more than maxBytes: the receiver gives a post one budget', async () => {
    const { posts, transport } = recorder()
    const batch = new Batch(transport, 100)
    batch.queue({ n: 1 }, undefined, vi.fn(), 60)
    batch.queue({ n: 2 }, undefined, vi.fn(), 40)
    batch.queue({ n: 3 }, undefined, vi.fn(), 1)
    batch.queue({ n: 4 }, undefined, vi.fn(), 100)
    await turn()
    expect(posts.map((p) => p.data)).toEqual([[{ n: 1 }, { n: 2 }], { n: 3 }, { n: 4 }])
  })

  it('postNow sends what is queued first, then its message, and throws what the post throws', () => {
    const { posts, transport } = recorder()
    const batch = new Batch(transport, 1_000_000)
    batch.queue({ n: 1 }, undefined, vi.fn(), 8)
    batch.postNow({ n: 2 })
    expect(posts.map((p) => p.data)).toEqual([{ n: 1 }, { n: 2 }])
    expect(() => batch.postNow({ bad: true })).toThrow(/cloned/)
  })

  it('when the batch cannot be posted, posts each message alone: only the bad one fails', async () => {
    const { posts, transport } = recorder()
    const batch = new Batch(transport, 1_000_000)
    const unsent = vi.fn()
    const bad = { n: 2, bad: true }
    batch.queue({ n: 1 }, undefined, unsent, 8)
    batch.queue(bad, undefined, unsent, 8)
    batch.queue({ n: 3 }, undefined, unsent, 8)
    await turn()
    expect(posts.map((p) => p.data)).toEqual([{ n: 1 }, { n: 3 }])
    expect(unsent).toHaveBeenCalledTimes(1)
    expect(unsent).toHaveBeenCalledWith(expect.objectContaining({ name: 'DataCloneError' }), bad)
  })

  it('reports a lone message that cannot be posted', async () => {
    const { transport } = recorder()
    const batch = new Batch(transport, 1_000_000)
    const unsent = vi.fn()
    batch.queue({ bad: true }, undefined, unsent, 8)
    await turn()
    expect(unsent).toHaveBeenCalledOnce()
  })

  it('close sends what is queued, then posts nothing more', async () => {
    const { posts, transport } = recorder()
    const batch = new Batch(transport, 1_000_000)
    batch.queue({ n: 1 }, undefined, vi.fn(), 8)
    batch.close()
    expect(posts.map((p) => p.data)).toEqual([{ n: 1 }])
    batch.queue({ n: 2 }, undefined, vi.fn(), 8)
    batch.postNow({ n: 3 })
    await turn()
    expect(posts).toHaveLength(1)
  })
})

describe('isBatch', () => {
  it('accepts 2 to MAX_BATCH messages, nothing else', () => {
    expect(isBatch([])).toBe(false)
    expect(isBatch([{}])).toBe(false)
    expect(isBatch([{}, {}])).toBe(true)
    expect(isBatch(Array.from({ length: MAX_BATCH }, () => ({})))).toBe(true)
    expect(isBatch(Array.from({ length: MAX_BATCH + 1 }, () => ({})))).toBe(false)
  })
})
