import type { ValidationIssue } from '../errors.js'

/**
 * The Standard Schema v1 interface (https://standardschema.dev), which zod 4,
 * Valibot, ArkType and others implement. Declared here so that portcullis
 * accepts any of them without depending on one.
 */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  readonly '~standard': StandardSchemaV1.Props<Input, Output>
}

export declare namespace StandardSchemaV1 {
  interface Props<Input = unknown, Output = Input> {
    readonly version: 1
    readonly vendor: string
    readonly validate: (value: unknown) => Result<Output> | Promise<Result<Output>>
    readonly types?: Types<Input, Output> | undefined
  }
  type Result<Output> = SuccessResult<Output> | FailureResult
  interface SuccessResult<Output> {
    readonly value: Output
    readonly issues?: undefined
  }
  interface FailureResult {
    readonly issues: ReadonlyArray<Issue>
  }
  interface Issue {
    readonly message: string
    readonly path?: ReadonlyArray<PropertyKey | PathSegment> | undefined
  }
  interface PathSegment {
    readonly key: PropertyKey
  }
  interface Types<Input = unknown, Output = Input> {
    readonly input: Input
    readonly output: Output
  }
  type InferInput<S extends StandardSchemaV1> = NonNullable<S['~standard']['types']>['input']
  type InferOutput<S extends StandardSchemaV1> = NonNullable<S['~standard']['types']>['output']
}

/** The outcome of {@link validate}: the parsed value, or the issues found. */
export type Checked =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly issues: ValidationIssue[] }

function toIssues(issues: ReadonlyArray<StandardSchemaV1.Issue>): ValidationIssue[] {
  return issues.map((issue) => ({
    // Built into the ValidationError's message: a Symbol from a hand-made schema would throw there, outside any guard.
    message: String(issue.message),
    path: (issue.path ?? []).map((segment) =>
      typeof segment === 'object' && segment !== null ? segment.key : segment,
    ),
  }))
}

function settle(result: StandardSchemaV1.Result<unknown>): Checked {
  try {
    return result.issues ? { ok: false, issues: toIssues(result.issues) } : { ok: true, value: result.value }
  } catch (error) {
    return threw(error)
  }
}

// A transform that throws on bad input (`JSON.parse`), a refinement with a bug,
// a hand-made schema returning nothing: the value is refused like any invalid
// one, and the call, the batch and the page carry on.
function threw(error: unknown): Checked {
  let what: string
  try {
    what = error instanceof Error ? error.message : String(error)
  } catch {
    what = 'an unprintable value'
  }
  return { ok: false, issues: [{ message: `the schema threw: ${what}`, path: [] }] }
}

/**
 * Runs a Standard Schema. Synchronous schemas (the common case) answer
 * without a microtask; asynchronous ones return a promise. Never throws and
 * never rejects: a schema that does is reported as an issue.
 */
export function validate(schema: StandardSchemaV1, value: unknown): Checked | Promise<Checked> {
  let result: ReturnType<StandardSchemaV1['~standard']['validate']>
  try {
    result = schema['~standard'].validate(value)
  } catch (error) {
    return threw(error)
  }
  return result instanceof Promise ? result.then(settle, threw) : settle(result)
}

/** True when `value` looks like a Standard Schema v1 object. */
export function isStandardSchema(value: unknown): value is StandardSchemaV1 {
  if ((typeof value !== 'object' && typeof value !== 'function') || value === null) return false
  const props = (value as Partial<StandardSchemaV1>)['~standard']
  return typeof props === 'object' && props !== null && props.version === 1 && typeof props.validate === 'function'
}

interface ZodSchema {
  readonly _zod?: { readonly def?: ZodDef }
}

interface ZodDef {
  readonly type?: unknown
  readonly items?: readonly unknown[]
  readonly innerType?: ZodSchema
  readonly out?: ZodSchema
}

/**
 * How many arguments an input schema declares before any rest element, when
 * it can tell: a zod tuple (zod or zod/mini, `.readonly()` too), or a
 * `.pipe()` into one, whose output it is. A Standard Schema does not say its
 * arity, and zod leaves omitted optional elements out, so without this a
 * handler `(s, n, ctx)` called with one argument would find its context in
 * `n`. With a rest element too: fewer arguments than the fixed elements means
 * the rest is empty. A `.transform()` can return any length: not known.
 */
export function tupleLength(schema: StandardSchemaV1): number | undefined {
  let def = (schema as ZodSchema)._zod?.def
  while (def?.type === 'readonly' || def?.type === 'pipe') {
    def = (def.type === 'pipe' ? def.out : def.innerType)?._zod?.def
  }
  if (def?.type !== 'tuple' || !Array.isArray(def.items)) return undefined
  return def.items.length
}
