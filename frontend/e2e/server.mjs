// Start and stop `envaudio serve` for the e2e run (on a free loopback port).

import { spawn } from 'node:child_process'
import net from 'node:net'

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/**
 * Spawn `python -m envaudio serve` in its own process group and wait for /health.
 * Returns {url, stop(), log()}. stop() is idempotent and also runs on process exit.
 */
export async function startServer({ python, cwd, timeoutMs = 90_000, env = {}, port: fixedPort } = {}) {
  const port = fixedPort ?? (await freePort())
  const url = `http://127.0.0.1:${port}`
  const child = spawn(python, ['-m', 'envaudio', 'serve', '--host', '127.0.0.1', '--port', String(port)], {
    cwd,
    env: { ...process.env, ENVAUDIO_TORCH_THREADS: '1', ...env },
    detached: true, // own process group: stop() kills uvicorn and anything it spawned
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  const keep = (d) => {
    output = (output + d.toString()).slice(-20_000)
  }
  child.stdout.on('data', keep)
  child.stderr.on('data', keep)
  let exited = false
  const exitPromise = new Promise((resolve) => child.on('exit', (code, signal) => {
    exited = true
    resolve({ code, signal })
  }))
  child.on('error', (e) => {
    keep(`spawn error: ${e.message}\n`)
    exited = true
  })

  const killGroup = (signal) => {
    try {
      process.kill(-child.pid, signal)
    } catch {
      /* already gone */
    }
  }
  const onExit = () => killGroup('SIGKILL')
  process.on('exit', onExit)

  let stopped = false
  const stop = async () => {
    if (stopped) return
    stopped = true
    process.off('exit', onExit)
    if (exited) return
    killGroup('SIGTERM')
    const done = await Promise.race([exitPromise, sleep(6000).then(() => null)])
    if (!done) {
      killGroup('SIGKILL')
      await Promise.race([exitPromise, sleep(2000)])
    }
  }

  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (exited) {
      await stop()
      throw new Error(`envaudio serve exited before it was ready:\n${output}`)
    }
    try {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) })
      if (res.ok) return { url, port, stop, log: () => output }
    } catch {
      /* not listening yet */
    }
    await sleep(400)
  }
  await stop()
  throw new Error(`envaudio serve did not become healthy within ${timeoutMs / 1000} s:\n${output}`)
}
