import type { RejectionSink } from '../transport/transport.js'
import { type Checked, type StandardSchemaV1, validate } from './standard-schema.js'

type Listener = (payload: any) => void

/**
 * Inbound events: each payload is validated against the contract before any
 * listener sees it; events the contract does not declare are dropped.
 */
export class EventHub {
  readonly #schemas: Readonly<Record<string, StandardSchemaV1>>
  readonly #onRejected: RejectionSink
  readonly #listeners: Record<string, Set<Listener>> = Object.create(null)
  #cleared = false

  constructor(schemas: Readonly<Record<string, StandardSchemaV1>>, onRejected: RejectionSink) {
    this.#schemas = schemas
    this.#onRejected = onRejected
  }

  on(name: string, listener: Listener): () => void {
    if (!Object.hasOwn(this.#schemas, name)) {
      throw new TypeError(`on("${name}"): the remote contract declares no such event`)
    }
    // Refused here: called with the first event, it would throw far from this line.
    if (typeof listener !== 'function') throw new TypeError(`on("${name}"): the listener must be a function`)
    const set = (this.#listeners[name] ??= new Set())
    set.add(listener)
    return () => {
      set.delete(listener)
    }
  }

  deliver(name: string, payload: unknown): void {
    if (!Object.hasOwn(this.#schemas, name)) {
      this.#onRejected({ reason: 'schema', detail: `undeclared event "${name}"` })
      return
    }
    const checked = validate(this.#schemas[name] as StandardSchemaV1, payload)
    if (checked instanceof Promise) checked.then((c) => this.#dispatch(name, c))
    else this.#dispatch(name, checked)
  }

  /** Removes every listener, for good: the connection closed. */
  clear(): void {
    this.#cleared = true
    for (const name of Object.keys(this.#listeners)) delete this.#listeners[name]
  }

  #dispatch(name: string, checked: Checked): void {
    // An asynchronous schema may answer after close(): nothing reaches your hooks after that.
    if (this.#cleared) return
    if (!checked.ok) {
      const issue = checked.issues[0]
      this.#onRejected({ reason: 'schema', detail: `event "${name}": ${issue ? issue.message : 'invalid payload'}` })
      return
    }
    const set = this.#listeners[name]
    if (set === undefined) return
    for (const listener of [...set]) {
      try {
        listener(checked.value)
      } catch (error) {
        // A throwing listener must not stop the others or break the session.
        queueMicrotask(() => {
          throw error
        })
      }
    }
  }
}
