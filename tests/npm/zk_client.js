// Drives one independent ZK client from the npm registry against a device and prints what it read as
// one line of JSON on stdout (the clients' own chatter goes to stderr). Used by tests/test_npm_clients.py.
//
//   node zk_client.js '{"client": "node-zklib", "host": "127.0.0.1", "port": 4370, "timeout_ms": 5000,
//                       "read": ["info", "users", "attendances"], "live_events": 3, "live_wait_ms": 5000}'
//
// "writes" (done before the reads): [{"op": "set_user", "uid": 7, "pin": "1007", "name": "Ani", "password": "",
// "role": 0, "card": 0}, {"op": "delete_user", "uid": 7}], each answered in result.writes with the reply's
// command code (2000 is CMD_ACK_OK). zkteco-js has both; zklib-js has set_user only; node-zklib neither.
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
  result.writes = []
  for (const write of request.writes || []) {
    let reply
    if (write.op === 'set_user') {
      reply = await device.setUser(write.uid, write.pin, write.name, write.password || '', write.role || 0, write.card || 0)
    } else if (write.op === 'delete_user') {
      reply = await device.deleteUser(write.uid)
    } else {
      throw new Error(`unknown write ${write.op}`)
    }
    result.writes.push(Buffer.isBuffer(reply) && reply.length >= 2 ? reply.readUInt16LE(0) : null)
  }
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
