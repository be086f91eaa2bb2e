// @vitest-environment node
import { describe, expect, it } from 'vitest'
import { DEFAULT_PORTS, portsFromEnv } from '../../demo/server.mjs'

describe('demo server ports (portsFromEnv)', () => {
  it('takes three ports, or a first one and the two after it, or 0 for free ones', () => {
    expect(portsFromEnv({})).toEqual([...DEFAULT_PORTS])
    expect(portsFromEnv({ DEMO_PORTS: '6173,7000,8000' })).toEqual([6173, 7000, 8000])
    expect(portsFromEnv({ DEMO_PORTS: '6173' })).toEqual([6173, 6174, 6175])
    expect(portsFromEnv({ PORT: '65533' })).toEqual([65533, 65534, 65535])
    expect(portsFromEnv({ DEMO_PORTS: '0' })).toEqual([0, 0, 0])
    expect(portsFromEnv({ PORT: '0' })).toEqual([0, 0, 0])
  })

  it('refuses a first port with no room for the two after it', () => {
    expect(() => portsFromEnv({ PORT: '65534' })).toThrow('PORT=65534 leaves no room')
    expect(() => portsFromEnv({ DEMO_PORTS: '65535' })).toThrow('DEMO_PORTS=65535 leaves no room')
  })

  it('refuses what is not a port', () => {
    expect(() => portsFromEnv({ PORT: '70000' })).toThrow('not a port number')
    expect(() => portsFromEnv({ DEMO_PORTS: '1,2' })).toThrow('three ports')
  })
})
