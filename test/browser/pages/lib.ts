// The library, zod and the test contracts, as globals for page.evaluate().
import * as z from 'zod'
import * as portcullis from '../../../src/index.js'
import * as contracts from './contracts.js'

Object.assign(globalThis, { portcullis, z, contracts })
