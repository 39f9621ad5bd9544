// Drives one independent ZK client from the npm registry against a device and prints what it read as
// one line of JSON on stdout (the clients' own chatter goes to stderr). Used by tests/test_npm_clients.py.
//
//   node zk_client.js '{"client": "node-zklib", "host": "127.0.0.1", "port": 4370, "timeout_ms": 5000,
//                       "read": ["info", "users", "attendances"], "live_events": 3, "live_wait_ms": 5000}'
//
// The clients fall back to UDP only when TCP is refused, so a UDP run points them at a UDP-only device.
'use strict'

const log = (...parts) => process.stderr.write(parts.map(String).join(' ') + '\n')
console.log = log
console.info = log
console.warn = log
console.error = log

const CLIENTS = {
  'node-zklib': () => require('node-zklib'),
  'zklib-js': () => require('zklib-js'),
  'zkteco-js': () => require('zkteco-js'),
}

const pad = (value) => String(value).padStart(2, '0')

// The clients build a Date from the device's wall clock with the local-time constructor: read it back the same way.
function wallTime(value) {
  const date = value instanceof Date ? value : new Date(value)
  if (Number.isNaN(date.getTime())) return String(value)
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`
}

function record(raw) {
  return {
    pin: String(raw.deviceUserId ?? raw.user_id ?? raw.userId ?? ''),
    time: wallTime(raw.recordTime ?? raw.record_time ?? raw.attTime),
  }
}

function user(raw) {
  return { uid: raw.uid, pin: String(raw.userId ?? raw.user_id ?? ''), name: raw.name ?? '' }
}

function errorText(error) {
  if (!error) return null
  if (error.err) return String(error.err.message || error.err)
  return String(error.message || error)
}

async function main() {
  const request = JSON.parse(process.argv[2])
  const ZKLib = CLIENTS[request.client]()
  const device = new ZKLib(request.host, request.port, request.timeout_ms, request.inport || 0)
  const result = { client: request.client }
  await device.createSocket()
  result.transport = device.connectionType
  for (const what of request.read || []) {
    const started = Date.now()
    if (what === 'info') {
      result.info = await device.getInfo()
    } else if (what === 'users') {
      const answer = await device.getUsers()
      result.users = answer.data.map(user)
      result.users_error = errorText(answer.err)
    } else if (what === 'attendances') {
      const answer = await device.getAttendances()
      result.attendances = answer.data.map(record)
      result.attendances_error = errorText(answer.err)
    }
    result[`${what}_ms`] = Date.now() - started
  }
  if (request.live_events) {
    result.live = await new Promise((resolve) => {
      const heard = []
      const timer = setTimeout(() => resolve(heard), request.live_wait_ms || 5000)
      device.getRealTimeLogs((event) => {
        heard.push(record(event))
        if (heard.length >= request.live_events) {
          clearTimeout(timer)
          resolve(heard)
        }
      })
      // The test punches once it sees this line: the registration has been sent.
      process.stderr.write('LISTENING\n')
    })
  }
  try {
    await device.disconnect()
  } catch (error) {
    log('disconnect failed:', errorText(error))
  }
  return result
}

// Leave only once stdout is flushed: a pipe takes 64 KiB at a time and exit() would cut the rest off.
const finish = (body, status) => process.stdout.write(JSON.stringify(body) + '\n', () => process.exit(status))

main().then(
  (result) => finish(result, 0),
  (error) => finish({ error: errorText(error) }, 1),
)
