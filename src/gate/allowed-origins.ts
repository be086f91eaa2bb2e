/**
 * The allow-list: which origins may talk to this window. Built once at
 * `connect()`; every mistake in it is a TypeError that says what to write
 * instead, because a lax allow-list is the most common postMessage bug.
 */

export interface AllowedOrigins {
  /** True when `origin` (as the browser reports it in `event.origin`) is allowed. */
  allows(origin: string): boolean
  /** The one origin a message can be addressed to before the peer has spoken, if the list names exactly one. */
  readonly soleOrigin: string | undefined
}

export interface AllowedOriginsOptions {
  /** Accept the opaque origin `'null'` (sandboxed frames, `data:` URLs). */
  allowOpaqueOrigin?: boolean
}

const OPAQUE = 'null'
const WILDCARD_LABEL = '*.'
// Stands in for the `*` label while the rest of the pattern goes through URL.
const PLACEHOLDER = 'portcullis-wildcard-label'

function refuse(entry: unknown, why: string): never {
  throw new TypeError(`allowedOrigins: ${JSON.stringify(entry)} ${why}`)
}

// `shown` is what the user wrote, and `origin` how we suggest writing it: they
// differ for a pattern, whose `*` label is swapped for a placeholder to parse.
function parseUrl(text: string, shown = text, origin: (url: URL) => string = (url) => url.origin): URL {
  const entry = shown
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return refuse(entry, "is not an origin; write a scheme and host, e.g. 'https://widget.example'")
  }
  // 'https://a.example,https://b.example' parses, as host 'a.example,https': a joined list.
  if (/[,;]/.test(url.host)) refuse(entry, 'joins several origins; list each as its own entry')
  if (url.origin === OPAQUE || url.host === '') {
    refuse(entry, "has no host; write a scheme and host, e.g. 'https://widget.example'")
  }
  // A '*' that only appears once URL has decoded the host (`%2A`, a fullwidth
  // '＊') would be an exact origin no browser can report: a silent deny-all.
  if (url.hostname.replace(PLACEHOLDER, '').includes('*')) {
    // A plain '*' here came through normalizeOrigin(), which takes exact origins only.
    refuse(
      entry,
      text.includes('*')
        ? 'is a pattern; normalizeOrigin() takes an exact origin'
        : "has a '*' only once decoded (%2A or a look-alike); write a plain '*', e.g. 'https://*.example.com'",
    )
  }
  if (url.username !== '' || url.password !== '') {
    refuse(entry, `must not contain credentials; write '${origin(url)}'`)
  }
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '' || /[?#]/.test(text)) {
    refuse(entry, `is a URL, not an origin; an origin has no path, query or fragment: write '${origin(url)}'`)
  }
  return url
}

/**
 * Normalises one exact origin entry through `URL`: lower-case scheme and host,
 * IDN to punycode, default port dropped, trailing slash dropped.
 *
 * @example
 * normalizeOrigin('HTTPS://Widget.Example:443/') // 'https://widget.example'
 */
export function normalizeOrigin(entry: string): string {
  return parseUrl(entry).origin
}

interface SubdomainPattern {
  readonly protocol: string
  readonly port: string
  readonly suffix: string // '.example.com'
}

function parsePattern(entry: string): SubdomainPattern {
  const at = entry.indexOf('://')
  if (at < 0 || !entry.startsWith(WILDCARD_LABEL, at + 3)) {
    refuse(entry, "uses '*' outside a leading subdomain label; write 'https://*.example.com' or list exact origins")
  }
  const rest = entry.slice(at + 3 + WILDCARD_LABEL.length)
  if (rest.includes('*')) refuse(entry, "may hold only one '*', as the leftmost label: 'https://*.example.com'")
  const host = rest.split(/[:/?#]/, 1)[0] ?? ''
  if (rest.startsWith('[') || /^[\d.]+$/.test(host)) {
    refuse(entry, 'puts a wildcard on an IP address; list the exact origin instead')
  }
  const url = parseUrl(`${entry.slice(0, at)}://${PLACEHOLDER}.${rest}`, entry, (u) =>
    u.origin.replace(PLACEHOLDER, '*'),
  )
  const suffix = url.hostname.slice(PLACEHOLDER.length)
  // Labels, not dots: '*.com.' (fully qualified, trailing dot) is still all of .com.
  if (suffix.split('.').filter(Boolean).length < 2) {
    refuse(entry, "covers a whole top-level domain; name the registrable domain, e.g. 'https://*.example.com'")
  }
  return { protocol: url.protocol, port: url.port, suffix }
}

function matchesPattern(p: SubdomainPattern, origin: string): boolean {
  let url: URL
  try {
    url = new URL(origin)
  } catch {
    return false
  }
  const host = url.hostname
  return (
    url.protocol === p.protocol &&
    url.port === p.port &&
    host.length > p.suffix.length &&
    host.endsWith(p.suffix) &&
    url.origin === origin
  )
}

/**
 * Builds the allow-list from `connect({ allowedOrigins })`.
 *
 * Accepted entries: exact origins (`'https://widget.example'`), leading
 * subdomain patterns (`'https://*.example.com'`, which matches
 * `a.example.com` and `a.b.example.com` but not `example.com` itself, another
 * scheme or another port), and `'null'` when `allowOpaqueOrigin` is set.
 *
 * @example
 * const gate = createAllowedOrigins(['https://shop.example', 'https://*.cdn.example'])
 * gate.allows('https://eu.cdn.example') // true
 * gate.allows('https://cdn.example.evil.net') // false
 */
export function createAllowedOrigins(entries: unknown, options: AllowedOriginsOptions = {}): AllowedOrigins {
  if (!Array.isArray(entries)) {
    throw new TypeError(
      "allowedOrigins is required: pass an array of the exact origins that may talk to this window, e.g. ['https://widget.example']",
    )
  }
  if (entries.length === 0) {
    throw new TypeError(
      "allowedOrigins is empty, so nothing could ever connect; list the peer's origin, e.g. ['https://widget.example']",
    )
  }
  const exact = new Set<string>()
  const patterns: SubdomainPattern[] = []
  let opaque = false
  for (const entry of entries) {
    if (typeof entry !== 'string') refuse(entry, 'is not a string origin')
    const trimmed = entry.trim()
    if (trimmed === '*' || trimmed === '') {
      refuse(
        entry,
        "would let every origin in; portcullis never accepts '*'. List the exact origins instead, e.g. ['https://widget.example'], or a subdomain pattern like 'https://*.example.com'",
      )
    }
    if (trimmed === OPAQUE) {
      if (!options.allowOpaqueOrigin) {
        refuse(
          entry,
          'is the opaque origin of sandboxed and data: frames, which any such frame shares; set allowOpaqueOrigin: true to accept it (the connection is still bound to the one target window)',
        )
      }
      opaque = true
      continue
    }
    if (trimmed.includes('*')) patterns.push(parsePattern(trimmed))
    else exact.add(normalizeOrigin(trimmed))
  }
  const soleOrigin = exact.size === 1 && patterns.length === 0 && !opaque ? [...exact][0] : undefined
  return {
    soleOrigin,
    allows(origin: string): boolean {
      if (exact.has(origin)) return true
      if (origin === OPAQUE) return opaque
      for (const p of patterns) if (matchesPattern(p, origin)) return true
      return false
    },
  }
}
