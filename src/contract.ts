import type { CallOptions } from './rpc/caller.js'
import type { CallContext } from './rpc/responder.js'
import { isStandardSchema, type StandardSchemaV1 } from './rpc/standard-schema.js'

/** A schema for the positional arguments of a method: a tuple (or array) schema. */
export type ArgumentsSchema = StandardSchemaV1<readonly unknown[], readonly unknown[]>

/** One method of a contract: the schema of its arguments and of its result. */
export interface MethodSchema<
  I extends ArgumentsSchema = ArgumentsSchema,
  O extends StandardSchemaV1 = StandardSchemaV1,
> {
  readonly input: I
  readonly output: O
}

export type MethodsShape = { readonly [name: string]: MethodSchema }
export type EventsShape = { readonly [name: string]: StandardSchemaV1 }

/** What one window serves: its methods and the events it emits. Build with {@link defineContract}. */
export interface Contract<M extends MethodsShape = MethodsShape, E extends EventsShape = EventsShape> {
  readonly methods: M
  readonly events: E
}

type Input<S extends StandardSchemaV1> = StandardSchemaV1.InferInput<S>
type Output<S extends StandardSchemaV1> = StandardSchemaV1.InferOutput<S>
// A schema without the optional `types` (Standard Schema allows that) infers
// `unknown`: any arguments, as its own validate decides, rather than none.
type Tuple<T> = unknown extends T ? unknown[] : T extends readonly unknown[] ? T : never

/** The arguments a caller passes to `method`. */
export type MethodArgs<M extends MethodSchema> = Tuple<Input<M['input']>>
/** What a call of `method` resolves to, after the caller's validation. */
export type MethodResult<M extends MethodSchema> = Output<M['output']>

/** A remote method: call it directly, or with per-call options through `.with()`. */
export interface RemoteMethod<M extends MethodSchema> {
  (...args: MethodArgs<M>): Promise<MethodResult<M>>
  /**
   * @example
   * await remote.add.with({ timeout: 500, signal })(1, 2)
   */
  with(options: CallOptions): (...args: MethodArgs<M>) => Promise<MethodResult<M>>
}

/** The typed proxy of the peer's methods. */
export type RemoteProxy<C extends Contract> = { readonly [K in keyof C['methods']]: RemoteMethod<C['methods'][K]> }

/**
 * The handler of one method: validated arguments, then the call's context.
 * An omitted optional argument arrives as `undefined` (for zod tuples, whose
 * length portcullis can read), so the context is always after all of them.
 * A handler with no `return` is fine when the result schema accepts `undefined`.
 */
export type HandlerOf<M extends MethodSchema> = (
  ...args: [...Tuple<Output<M['input']>>, CallContext]
) =>
  | Input<M['output']>
  | PromiseLike<Input<M['output']>>
  | (undefined extends Input<M['output']> ? void | PromiseLike<void> : never)

/**
 * One handler for every method of a contract, as own properties (a class
 * instance's methods are inherited, and refused). Each is called as a method
 * of this object: `this` is the object, so one handler can call another.
 */
export type Handlers<C extends Contract> = { readonly [K in keyof C['methods']]: HandlerOf<C['methods'][K]> }

/** Names of the events a contract declares. */
export type EventName<C extends Contract> = keyof C['events'] & string
/** A payload as an emitter passes it. */
export type EventInput<C extends Contract, K extends EventName<C>> = Input<C['events'][K]>
/** The arguments of `emit(name, ...)`: the payload, optional when the schema accepts `undefined` (`z.void()`). */
export type EmitArgs<C extends Contract, K extends EventName<C>> =
  undefined extends EventInput<C, K> ? [payload?: EventInput<C, K>] : [payload: EventInput<C, K>]
/** A payload as a listener receives it, after validation. */
export type EventOutput<C extends Contract, K extends EventName<C>> = Output<C['events'][K]>

/**
 * A result is checked by the side that sends it and again by the caller, so
 * an output schema sees its own output: one whose output it would refuse
 * (`z.string().transform((s) => s.length)`) fails every call. Such a method
 * is a compile error here.
 */
type OutputsCheckedTwice<M extends MethodsShape> = {
  readonly [K in keyof M]: Output<M[K]['output']> extends Input<M[K]['output']>
    ? unknown
    : { readonly output: 'this output schema refuses its own output (a transform?): results are checked on both sides' }
}

/**
 * The names `defineContract` refuses at runtime, refused at compile time too
 * where the type can tell: the reserved ones, and the separators of the usual
 * non-identifier names (`'cart-changed'`, `'cart:changed'`).
 */
type NamesAllowed<S> = {
  readonly [K in keyof S]: K extends 'then' | '__proto__' | 'constructor' | 'prototype'
    ? 'is reserved: it would make the proxy a thenable or reach the prototype'
    : K extends `${string}${'-' | ':' | '.' | ' ' | '/'}${string}`
      ? 'must be an identifier (letters, digits, _ and $), e.g. cartChanged'
      : unknown
}

// `then` would make the proxy a thenable (awaiting `ready` would call it);
// the others cannot be own properties of an object literal or mislead readers.
const RESERVED = new Set(['then', '__proto__', 'constructor', 'prototype'])
const NAME = /^[A-Za-z_$][\w$]*$/

function checkNames(
  kind: string,
  shape: unknown,
  check: (name: string, value: unknown) => void,
): Record<string, unknown> {
  if (shape === undefined) return Object.create(null)
  if (typeof shape !== 'object' || shape === null) throw new TypeError(`defineContract: ${kind} must be an object`)
  const table: Record<string, unknown> = Object.create(null)
  for (const name of Object.keys(shape)) {
    if (RESERVED.has(name) || !NAME.test(name) || name.length > 256) {
      throw new TypeError(
        `defineContract: ${JSON.stringify(name)} cannot be ${kind === 'methods' ? 'a method' : 'an event'} name; use an identifier that is not ${[...RESERVED].join(', ')}`,
      )
    }
    const value = (shape as Record<string, unknown>)[name]
    check(name, value)
    table[name] = value
  }
  return Object.freeze(table)
}

/**
 * Declares what a window serves: its methods (positional arguments as a tuple
 * schema, and a result schema) and the events it emits. Import the same
 * contract in both windows. Accepts zod 4 schemas or any Standard Schema v1.
 *
 * @example
 * import * as z from 'zod'
 * export const widgetApi = defineContract({
 *   methods: {
 *     add: { input: z.tuple([z.number(), z.number()]), output: z.number() },
 *   },
 *   events: { resized: z.object({ height: z.number() }) },
 * })
 */
export function defineContract<const M extends MethodsShape = {}, const E extends EventsShape = {}>(definition: {
  readonly methods?: M & OutputsCheckedTwice<M> & NamesAllowed<M>
  readonly events?: E & NamesAllowed<E>
}): Contract<M, E> {
  if (typeof definition !== 'object' || definition === null) {
    throw new TypeError('defineContract: pass { methods, events }')
  }
  const methods = checkNames('methods', definition.methods, (name, value) => {
    const method = value as Partial<MethodSchema> | null
    if (
      typeof method !== 'object' ||
      method === null ||
      !isStandardSchema(method.input) ||
      !isStandardSchema(method.output)
    ) {
      throw new TypeError(
        `defineContract: method "${name}" needs { input: <tuple schema>, output: <schema> }, e.g. input: z.tuple([z.number()])`,
      )
    }
  })
  const events = checkNames('events', definition.events, (name, value) => {
    if (!isStandardSchema(value))
      throw new TypeError(
        `defineContract: event "${name}" needs a payload schema, e.g. z.object({ height: z.number() })`,
      )
  })
  return Object.freeze({ methods, events }) as unknown as Contract<M, E>
}

/** A contract with no methods and no events: the default for `remote` and `local`. */
export type EmptyContract = Contract<{}, {}>
