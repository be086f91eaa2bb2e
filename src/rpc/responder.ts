import { LimitError, ValidationError } from '../errors.js'
import { type Limits, measure } from '../gate/limits.js'
import type { Unsent } from '../protocol/batch.js'
import type { CallMessage, FailureMessage } from '../protocol/envelope.js'
import type { Send } from './caller.js'
import { encodeError } from './error-codec.js'
import { type Checked, type StandardSchemaV1, tupleLength, validate } from './standard-schema.js'
import { takeTransfer } from './transfer.js'

/** What a handler receives after its arguments. */
export interface CallContext {
  /**
   * Fires when the caller aborts the call or it times out at the caller, and
   * when the session ends first (either side closes or unloads).
   */
  readonly signal: AbortSignal
}

/** A handler as the RPC layer sees it: validated arguments, then the context. */
export type Handler = (...args: any[]) => unknown

/** One method this side serves: its schemas and its handler. */
export interface ServedMethod {
  readonly input: StandardSchemaV1
  readonly output: StandardSchemaV1
  readonly handler: Handler
}

// Most handlers never look at their signal: the AbortController is made only
// when one asks for it, or when there is an abort to deliver.
class Context implements CallContext {
  #controller: AbortController | undefined

  get signal(): AbortSignal {
    this.#controller ??= new AbortController()
    return this.#controller.signal
  }

  abort(): void {
    this.#controller ??= new AbortController()
    this.#controller.abort(new DOMException('the caller aborted the call', 'AbortError'))
  }
}

/**
 * Runs inbound calls. Methods live in a null-prototype table read as own
 * properties, so `__proto__`, `constructor` or `toString` can never name
 * anything. Arguments are validated before the handler runs and the result
 * before it is sent.
 */
export class Responder {
  readonly #methods: Readonly<Record<string, ServedMethod>>
  readonly #send: Send
  readonly #debug: boolean
  readonly #limits: Limits
  readonly #running = new Map<string, Context>()
  // Declared argument counts, where the schema tells: the context always comes after all of them.
  readonly #arity = new Map<ServedMethod, number | undefined>()

  constructor(methods: Readonly<Record<string, ServedMethod>>, send: Send, debug: boolean, limits: Limits) {
    this.#methods = methods
    this.#send = send
    this.#debug = debug
    this.#limits = limits
  }

  /** Returns false when the method is not served here. */
  handle(message: CallMessage): boolean {
    if (!Object.hasOwn(this.#methods, message.m)) return false
    const method = this.#methods[message.m] as ServedMethod
    const context = new Context()
    this.#running.set(message.i, context)
    const checked = validate(method.input, message.a)
    if (checked instanceof Promise) {
      checked.then((c) => {
        // Aborted, timed out at the caller or disposed while the arguments were checked: the handler never runs.
        if (this.#running.get(message.i) === context) this.#run(message, method, context, c)
      })
    } else this.#run(message, method, context, checked)
    return true
  }

  /** True while call `id` is being checked, run or answered. */
  isRunning(id: string): boolean {
    return this.#running.has(id)
  }

  /** The caller gave up on `id`: fire the handler's signal. */
  abort(id: string): void {
    const context = this.#running.get(id)
    if (context === undefined) return
    this.#running.delete(id)
    context.abort()
  }

  /** The session ended: every running handler's signal fires, nothing more is sent. */
  dispose(): void {
    for (const id of [...this.#running.keys()]) this.abort(id)
  }

  #run(message: CallMessage, method: ServedMethod, context: Context, checked: Checked): void {
    if (!checked.ok) {
      this.#fail(message.i, context, new ValidationError('arguments', message.m, checked.issues), true)
      return
    }
    let result: unknown
    try {
      let args = checked.value as unknown[]
      let arity = this.#arity.get(method)
      if (arity === undefined && !this.#arity.has(method)) this.#arity.set(method, (arity = tupleLength(method.input)))
      // Omitted optional arguments arrive as undefined, so the context stays where the types put it.
      if (arity !== undefined && args.length < arity) args = [...args, ...new Array(arity - args.length)]
      result = method.handler(...args, context)
      // Reading `then` runs a getter of the handler's result, which may throw
      // too; so may awaiting a promise (a throwing `constructor` getter or own `then`).
      if (
        result instanceof Promise ||
        (typeof result === 'object' && result !== null && typeof (result as PromiseLike<unknown>).then === 'function')
      ) {
        Promise.resolve(result).then(
          (value) => this.#reply(message, method, context, value),
          (error) => this.#fail(message.i, context, error),
        )
        return
      }
    } catch (error) {
      this.#fail(message.i, context, error)
      return
    }
    this.#reply(message, method, context, result)
  }

  /**
   * True, once, when call `id` is still this `context`'s: after an abort the
   * peer may start another call under the same id, which the first handler's
   * late answer must neither answer nor end.
   */
  #finishing(id: string, context: Context): boolean {
    if (this.#running.get(id) !== context) return false
    this.#running.delete(id)
    return true
  }

  #reply(message: CallMessage, method: ServedMethod, context: Context, value: unknown): void {
    if (this.#running.get(message.i) !== context) return
    const transfer = takeTransfer(value)
    const checked = validate(method.output, value)
    const send = (c: Checked): void => {
      if (!this.#finishing(message.i, context)) return
      if (!c.ok) {
        this.#postFailure(message.i, new ValidationError('result', message.m, c.issues), true)
        return
      }
      const bytes = measure(c.value, this.#limits)
      if (typeof bytes === 'string') {
        this.#postFailure(message.i, new LimitError(`the result of "${message.m}" was not sent: ${bytes}`), true)
      } else this.#post({ k: 'r', i: message.i, v: c.value }, bytes, transfer)
    }
    if (checked instanceof Promise) checked.then(send)
    else send(checked)
  }

  #fail(id: string, context: Context, error: unknown, own = false): void {
    if (!this.#finishing(id, context)) return
    this.#postFailure(id, error, own)
  }

  /**
   * The error message for call `id`, within the limits like any other
   * message, and its measured bytes; `own`: see encodeError.
   */
  #failure(id: string, error: unknown, own = false): { message: FailureMessage; bytes: number } {
    const wire = encodeError(error, this.#debug, own)
    const bytes = measure(wire, this.#limits)
    if (typeof bytes === 'number') return { message: { k: 'e', i: id, e: wire }, bytes }
    const tooBig = encodeError(new LimitError(`the handler's error was not sent: ${bytes}`), false, true)
    return { message: { k: 'e', i: id, e: tooBig }, bytes: measure(tooBig, this.#limits) as number }
  }

  #postFailure(id: string, error: unknown, own = false): void {
    const { message, bytes } = this.#failure(id, error, own)
    this.#post(message, bytes)
  }

  #post(message: object, bytes: number, transfer?: Transferable[]): void {
    try {
      this.#send(message, transfer, this.#unsent, bytes)
    } catch (error) {
      this.#unsent(error, message)
    }
  }

  // The result could not be cloned (a function, a DOM node...): say so instead of leaving the caller hanging.
  readonly #unsent: Unsent = (error, message) => {
    this.#send(this.#failure((message as { readonly i: string }).i, error).message)
  }
}
