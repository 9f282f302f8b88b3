'use strict';
// Shared setup of the conformance suite: the sinchsim and dashboard
// binaries (built from this checkout, or given by SINCHSIM_BIN and
// DASHBOARD_BIN), processes started on loopback ports, a callback
// receiver, and Sinch's SDK pointed at the simulator.

const { spawn, execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { SinchClient } = require('@sinch/sdk-core');

const repoRoot = path.resolve(__dirname, '..', '..', '..');

// The simulator's defaults (internal/sinch/sinchsim/config.go).
const sim = {
  projectId: 'sim-project',
  appId: 'sim-app',
  keyId: 'sim-key',
  keySecret: 'sim-secret',
};

const isCI = process.env.CI === 'true';

// need reports whether a prerequisite is there; under CI=true a missing
// one fails the run instead of letting the tests that need it skip.
function need(ok, what) {
  if (!ok && isCI) throw new Error(`${what} (required under CI=true)`);
  return ok;
}

let built;
// binaries returns the paths of sinchsim and dashboard, building them once
// per process into a temporary directory unless SINCHSIM_BIN and
// DASHBOARD_BIN name them.
function binaries() {
  if (process.env.SINCHSIM_BIN && process.env.DASHBOARD_BIN) {
    return { sinchsim: process.env.SINCHSIM_BIN, dashboard: process.env.DASHBOARD_BIN };
  }
  if (!built) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sinch-sdk-conformance-'));
    process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
    execFileSync('go', ['build', '-o', dir + path.sep, './cmd/sinchsim', './cmd/dashboard'],
      { cwd: repoRoot, stdio: ['ignore', 'inherit', 'inherit'] });
    built = { sinchsim: path.join(dir, 'sinchsim'), dashboard: path.join(dir, 'dashboard') };
  }
  return built;
}

// start runs a binary that logs `url=http://...` once it listens, and
// resolves with its base URL; the process is stopped by stop().
function start(bin, args, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`${path.basename(bin)} did not start within 20s:\n${log}`));
    }, 20000);
    child.stderr.on('data', (chunk) => {
      log += chunk;
      const m = /url=(http:\/\/127\.0\.0\.1:\d+)/.exec(log);
      if (m && !child.baseURL) {
        clearTimeout(timer);
        child.baseURL = m[1];
        resolve({
          url: m[1],
          log: () => log,
          stop: () => new Promise((done) => {
            if (child.exitCode !== null) return done();
            child.once('exit', done);
            child.kill('SIGTERM');
          }),
        });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (!child.baseURL) reject(new Error(`${path.basename(bin)} exited with ${code}:\n${log}`));
    });
  });
}

// startSim starts sinchsim on a free loopback port with extra flags.
function startSim(...flags) {
  return start(binaries().sinchsim, ['--addr', '127.0.0.1:0', '--rate-limit', '-1', ...flags], {});
}

// redisURL is the Redis the dashboard's webhook keeps nonces in: the CI
// server (REDIS_TEST_ADDR) or a local one, in database 15.
function redisURL() {
  return `redis://${process.env.REDIS_TEST_ADDR || '127.0.0.1:6379'}/15`;
}

// redisAnswers reports whether Redis accepts a TCP connection.
function redisAnswers() {
  const [host, port] = (process.env.REDIS_TEST_ADDR || '127.0.0.1:6379').split(':');
  return new Promise((resolve) => {
    const sock = net.connect({ host, port: Number(port) });
    sock.setTimeout(1000);
    sock.once('connect', () => { sock.destroy(); resolve(true); });
    sock.once('error', () => resolve(false));
    sock.once('timeout', () => { sock.destroy(); resolve(false); });
  });
}

// startDashboard starts the dashboard with its webhook secrets.
function startDashboard(env) {
  return start(binaries().dashboard, ['--addr', '127.0.0.1:0'],
    { REDIS_URL: redisURL(), ...env });
}

// sdk returns Sinch's SDK client pointed at the simulator at base.
function sdk(base) {
  return new SinchClient({
    projectId: sim.projectId,
    keyId: sim.keyId,
    keySecret: sim.keySecret,
    authHostname: base,
    conversationHostname: base,
    logger: null, // the SDK logs every non-2xx answer otherwise
  });
}

// stats reads the simulator's counters.
async function stats(base) {
  const r = await fetch(base + '/_sim/stats');
  return r.json();
}

// waitUntil polls cond until it holds, failing after ms.
async function waitUntil(cond, what, ms = 10000) {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

// receiver is an HTTP server on loopback that keeps every request it gets
// (raw body and headers) and answers 200.
async function receiver() {
  const got = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      got.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), path: req.url });
      res.end();
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    got,
    // waitFor resolves once at least n requests arrived.
    waitFor: (n) => waitUntil(() => got.length >= n, `${n} callbacks (got ${got.length})`),
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

// smsRecipient is a DISPATCH-mode recipient on SMS.
function smsRecipient(identity) {
  return { identified_by: { channel_identities: [{ channel: 'SMS', identity }] } };
}

// randomPhone returns an MSISDN unique to this run.
function randomPhone() {
  return '+4670' + String(crypto.randomInt(0, 1e7)).padStart(7, '0');
}

module.exports = {
  sim, isCI, need, binaries, startSim, startDashboard, redisAnswers, redisURL, sdk, stats, receiver, waitUntil,
  smsRecipient, randomPhone,
};
