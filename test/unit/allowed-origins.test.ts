import { describe, expect, it } from 'vitest'
import { createAllowedOrigins, normalizeOrigin } from '../../src/gate/allowed-origins.js'

/** The TypeError thrown by `createAllowedOrigins(entries)`, for asserting on its message. */
function refusal(entries: unknown, options?: { allowOpaqueOrigin?: boolean }): TypeError {
  try {
    createAllowedOrigins(entries, options)
  } catch (error) {
    expect(error).toBeInstanceOf(TypeError)
    return error as TypeError
  }
  throw new Error(`expected ${JSON.stringify(entries)} to be refused`)
}

describe('normalizeOrigin', () => {
  it.each([
    ['https://example.com', 'https://example.com'],
    ['https://example.com/', 'https://example.com'],
    ['HTTPS://EXAMPLE.COM', 'https://example.com'],
    ['https://Example.Com:443', 'https://example.com'],
    ['http://example.com:80/', 'http://example.com'],
    ['https://example.com:8443', 'https://example.com:8443'],
    ['http://example.com:443', 'http://example.com:443'],
    ['https://bücher.example', 'https://xn--bcher-kva.example'],
    ['HTTPS://BÜCHER.example:443/', 'https://xn--bcher-kva.example'],
    ['http://127.0.0.1:5173', 'http://127.0.0.1:5173'],
    ['http://[::1]:8080', 'http://[::1]:8080'],
  ])('%s -> %s', (entry, origin) => {
    expect(normalizeOrigin(entry)).toBe(origin)
  })

  it('refuses a URL with a path and says which origin to write', () => {
    expect(() => normalizeOrigin('https://example.com/app')).toThrow(TypeError)
    expect(() => normalizeOrigin('https://example.com/app')).toThrow("write 'https://example.com'")
    // A list joined into one string (an environment variable, say) is not an origin whose fix is a path away.
    for (const joined of ['https://a.example,https://b.example', 'https://a.example;https://b.example']) {
      expect(() => createAllowedOrigins([joined])).toThrow(
        `allowedOrigins: ${JSON.stringify(joined)} joins several origins; list each as its own entry`,
      )
    }
    // A pattern belongs in allowedOrigins: not told that its plain '*' appeared "only once decoded".
    expect(() => normalizeOrigin('https://*.example.com')).toThrow(
      'allowedOrigins: "https://*.example.com" is a pattern; normalizeOrigin() takes an exact origin',
    )
  })
})

describe('createAllowedOrigins: exact origins', () => {
  const gate = createAllowedOrigins(['https://Widget.Example:443/', 'http://localhost:5173'])

  it('allows the normalised origin exactly as a browser reports it in event.origin', () => {
    expect(gate.allows('https://widget.example')).toBe(true)
    expect(gate.allows('http://localhost:5173')).toBe(true)
  })

  it.each([
    ['another scheme', 'http://widget.example'],
    ['another port', 'https://widget.example:8443'],
    ['an explicit default port (never what a browser reports)', 'https://widget.example:443'],
    ['a trailing slash', 'https://widget.example/'],
    ['upper case', 'https://WIDGET.example'],
    ['a suffix attack', 'https://widget.example.evil.net'],
    ['a prefix attack', 'https://evilwidget.example'],
    ['a subdomain', 'https://a.widget.example'],
    ['the opaque origin', 'null'],
    ['the empty origin jsdom reports', ''],
    ['localhost on another port', 'http://localhost:5174'],
  ])('refuses %s: %s', (_, origin) => {
    expect(gate.allows(origin)).toBe(false)
  })

  it('matches an IDN entry against the punycode origin the browser reports', () => {
    const idn = createAllowedOrigins(['https://bücher.example'])
    expect(idn.allows('https://xn--bcher-kva.example')).toBe(true)
    expect(idn.soleOrigin).toBe('https://xn--bcher-kva.example')
  })

  it('trims surrounding white space', () => {
    expect(createAllowedOrigins(['  https://a.example  ']).allows('https://a.example')).toBe(true)
  })

  it('names the sole origin only when the list pins exactly one', () => {
    expect(createAllowedOrigins(['https://a.example']).soleOrigin).toBe('https://a.example')
    // The same origin twice is still one origin.
    expect(createAllowedOrigins(['https://a.example', 'HTTPS://A.EXAMPLE/']).soleOrigin).toBe('https://a.example')
    expect(createAllowedOrigins(['https://a.example', 'https://b.example']).soleOrigin).toBeUndefined()
    expect(createAllowedOrigins(['https://*.a.example']).soleOrigin).toBeUndefined()
    expect(createAllowedOrigins(['https://a.example', 'null'], { allowOpaqueOrigin: true }).soleOrigin).toBeUndefined()
  })
})

describe('createAllowedOrigins: the opaque origin', () => {
  it("refuses 'null' unless allowOpaqueOrigin is set, and says which option to set", () => {
    const error = refusal(['null'])
    expect(error.message).toContain('allowOpaqueOrigin: true')
    expect(error.message).toContain('"null"')
  })

  it("allows 'null' with allowOpaqueOrigin, and only 'null'", () => {
    const gate = createAllowedOrigins(['null'], { allowOpaqueOrigin: true })
    expect(gate.allows('null')).toBe(true)
    expect(gate.allows('https://a.example')).toBe(false)
    expect(gate.allows('')).toBe(false)
  })

  it("does not allow 'null' just because the option is set", () => {
    const gate = createAllowedOrigins(['https://a.example'], { allowOpaqueOrigin: true })
    expect(gate.allows('null')).toBe(false)
    expect(gate.allows('https://a.example')).toBe(true)
  })
})

describe('createAllowedOrigins: subdomain patterns', () => {
  const gate = createAllowedOrigins(['https://*.example.com'])

  it.each(['https://a.example.com', 'https://a.b.example.com', 'https://x-1.deep.er.example.com'])('allows %s', (o) => {
    expect(gate.allows(o)).toBe(true)
  })

  it.each([
    ['the domain itself', 'https://example.com'],
    // URL parses an empty leftmost label: the host is then exactly the suffix, not a subdomain of it.
    ['an empty leftmost label', 'https://.example.com'],
    ['a suffix attack', 'https://example.com.evil.net'],
    ['a suffix attack with a subdomain', 'https://a.example.com.evil.net'],
    ['a lookalike without the dot', 'https://evilexample.com'],
    ['a lookalike subdomain', 'https://a.evilexample.com'],
    ['http instead of https', 'http://a.example.com'],
    ['another port', 'https://a.example.com:8443'],
    ['a non-canonical spelling', 'https://A.example.com'],
    ['an explicit default port', 'https://a.example.com:443'],
    ['a trailing slash', 'https://a.example.com/'],
    ['the opaque origin', 'null'],
    ['garbage', 'not a url'],
    ['the empty origin', ''],
  ])('refuses %s: %s', (_, origin) => {
    expect(gate.allows(origin)).toBe(false)
  })

  it('keeps a non-default port and the scheme of the pattern', () => {
    const ported = createAllowedOrigins(['http://*.example.com:8080'])
    expect(ported.allows('http://a.example.com:8080')).toBe(true)
    expect(ported.allows('http://a.example.com')).toBe(false)
    expect(ported.allows('https://a.example.com:8080')).toBe(false)
  })

  it('drops a default port and a trailing slash in the pattern, and lower-cases it', () => {
    const gate2 = createAllowedOrigins(['HTTPS://*.Example.COM:443/'])
    expect(gate2.allows('https://a.example.com')).toBe(true)
    expect(gate2.allows('https://a.example.com:443')).toBe(false)
  })

  it('matches IDN patterns against punycode hosts', () => {
    const idn = createAllowedOrigins(['https://*.bücher.example'])
    expect(idn.allows('https://shop.xn--bcher-kva.example')).toBe(true)
    expect(idn.allows('https://xn--bcher-kva.example')).toBe(false)
  })

  it('combines exact origins and patterns', () => {
    const mixed = createAllowedOrigins(['https://shop.example', 'https://*.cdn.example'])
    expect(mixed.allows('https://shop.example')).toBe(true)
    expect(mixed.allows('https://eu.cdn.example')).toBe(true)
    expect(mixed.allows('https://cdn.example')).toBe(false)
    expect(mixed.allows('https://cdn.example.evil.net')).toBe(false)
  })
})

describe('createAllowedOrigins: refusals say what to write instead', () => {
  it('requires an array', () => {
    for (const bad of [undefined, null, 'https://a.example', {}]) {
      expect(refusal(bad).message).toMatch(/allowedOrigins is required.*\['https:\/\/widget\.example'\]/)
    }
  })

  it('refuses an empty list', () => {
    expect(refusal([]).message).toMatch(/empty.*\['https:\/\/widget\.example'\]/)
  })

  it.each(['*', ' * ', ''])('refuses the wildcard %j and points at exact origins or a subdomain pattern', (entry) => {
    const { message } = refusal(['https://a.example', entry])
    expect(message).toContain("never accepts '*'")
    expect(message).toContain("'https://*.example.com'")
  })

  it('refuses a non-string entry', () => {
    expect(refusal([42]).message).toContain('42 is not a string origin')
  })

  it.each([
    ['https://a.example/path', "write 'https://a.example'"],
    ['https://a.example/?q=1', "write 'https://a.example'"],
    ['https://a.example/?', "write 'https://a.example'"],
    ['https://a.example#top', "write 'https://a.example'"],
    ['https://a.example#', "write 'https://a.example'"],
  ])('refuses a URL with a path, query or fragment: %s', (entry, hint) => {
    const { message } = refusal([entry])
    expect(message).toContain('is a URL, not an origin')
    expect(message).toContain(hint)
  })

  it('refuses credentials and shows the bare origin', () => {
    expect(refusal(['https://user:pw@a.example']).message).toContain(
      "must not contain credentials; write 'https://a.example'",
    )
    expect(refusal(['https://user@a.example']).message).toContain("write 'https://a.example'")
  })

  it.each(['a.example', 'example', 'https://', 'https://a.example:99999', '//a.example'])(
    'refuses the malformed entry %j with an example origin',
    (entry) => {
      expect(refusal([entry]).message).toContain("e.g. 'https://widget.example'")
    },
  )

  // URL decodes these to a literal '*' host label, which no browser reports: the entry would deny all.
  it.each(['https://%2A.a.example', 'https://%2a.a.example', 'https://\uff0a.a.example', 'https://*.%2A.example.com'])(
    'refuses %j, whose host has a * only once decoded',
    (entry) => {
      expect(refusal([entry]).message).toContain("has a '*' only once decoded")
      expect(refusal([entry]).message).toContain("'https://*.example.com'")
    },
  )

  it.each(['file:///etc/passwd', 'data:text/html,hi', 'about:blank', 'mailto:a@example.com'])(
    'refuses %j, which has no host',
    (entry) => {
      expect(refusal([entry]).message).toMatch(/has no host|is not an origin/)
    },
  )
})

describe('createAllowedOrigins: pattern rules', () => {
  it.each([
    'https://*.com',
    'https://*.example',
    'https://*.localhost',
    // A trailing dot is the same name written fully qualified, not one more label.
    'https://*.com.',
    'http://*.localhost.',
  ])('refuses the TLD-wide pattern %s', (p) => {
    expect(refusal([p]).message).toContain(
      "covers a whole top-level domain; name the registrable domain, e.g. 'https://*.example.com'",
    )
  })

  it.each(['https://*.0.0.1', 'https://*.168.1.1', 'https://*.[::1]', 'https://*.0x7f'])(
    'refuses a wildcard on an IP address: %s',
    (p) => {
      // The URL parser already rejects an IPv4/IPv6 host with a label in front of it.
      expect(refusal([p])).toBeInstanceOf(TypeError)
    },
  )

  it.each([
    ['a wildcard in the middle', 'https://a.*.example.com'],
    ['a wildcard without a dot', 'https://*example.com'],
    ['a bare wildcard host', 'https://*'],
    ['a partial label', 'https://a*.example.com'],
    ['no scheme', '*.example.com'],
    ['a wildcard scheme', '*://example.com'],
    ['a wildcard port', 'https://example.com:*'],
  ])('refuses %s: %s', (_, p) => {
    expect(refusal([p]).message).toContain("'https://*.example.com'")
  })

  it('refuses two wildcards', () => {
    expect(refusal(['https://*.*.example.com']).message).toContain("only one '*'")
  })

  it('refuses a pattern with a path', () => {
    expect(refusal(['https://*.example.com/app']).message).toContain('is a URL, not an origin')
  })
})
