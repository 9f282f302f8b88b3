'use strict';
// The dashboard's delivery-receipt webhook (POST /webhooks/sinch) against
// callbacks signed with the SDK's own signing helpers: accepted when
// signed with the app's webhook secret or its secret for overridden
// callback URLs, refused when tampered with, stale or replayed.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { computeSignedData, calculateWebhookSignature } = require('@sinch/sdk-core');
const h = require('../lib/harness');

const appSecret = 'conformance-dashboard-app-secret';
const overrideSecret = 'conformance-dashboard-override-secret';

// signedHeaders signs body as Sinch does, with the SDK's helpers.
function signedHeaders(secret, body, { nonce = crypto.randomUUID(), timestamp = Math.floor(Date.now() / 1000) } = {}) {
  const ts = String(timestamp);
  return {
    'Content-Type': 'application/json',
    'x-sinch-webhook-signature': calculateWebhookSignature(computeSignedData(body, nonce, ts), secret),
    'x-sinch-webhook-signature-nonce': nonce,
    'x-sinch-webhook-signature-timestamp': ts,
    'x-sinch-webhook-signature-algorithm': 'HmacSHA256',
  };
}

const receipt = (status) => JSON.stringify({
  app_id: 'sim-app',
  accepted_time: new Date().toISOString(),
  event_time: new Date().toISOString(),
  project_id: 'sim-project',
  message_delivery_report: {
    message_id: '01J' + crypto.randomBytes(12).toString('hex').toUpperCase().slice(0, 23),
    status,
    channel_identity: { channel: 'SMS', identity: '+46701230001', app_id: '' },
  },
  message_metadata: 'no-such-campaign',
});

describe('dashboard webhook', () => {
  let dash;
  let hook;
  let skip = 'the dashboard did not start'; // why tests skip; '' once it runs
  const post = (body, headers) => fetch(hook, { method: 'POST', body, headers });

  before(async () => {
    if (!h.need(await h.redisAnswers(), `no Redis at ${h.redisURL()} (set REDIS_TEST_ADDR)`)) {
      skip = `no Redis at ${h.redisURL()} (set REDIS_TEST_ADDR)`;
      return;
    }
    dash = await h.startDashboard({ SINCH_WEBHOOK_SECRET: appSecret, SINCH_WEBHOOK_OVERRIDE_SECRET: overrideSecret });
    hook = dash.url + '/webhooks/sinch';
    skip = '';
  });
  after(async () => {
    if (!dash) return;
    await dash.stop();
    for (const secret of [appSecret, overrideSecret]) {
      assert.ok(!dash.log().includes(secret), 'the dashboard log holds a webhook secret');
    }
  });

  test('accepts a receipt signed with the webhook secret', async (t) => {
    if (skip) return t.skip(skip);
    const body = receipt('DELIVERED');
    assert.equal((await post(body, signedHeaders(appSecret, body))).status, 200);
  });

  test('accepts a receipt signed with the secret for overridden callback URLs', async (t) => {
    if (skip) return t.skip(skip);
    const body = receipt('FAILED');
    assert.equal((await post(body, signedHeaders(overrideSecret, body))).status, 200);
  });

  const refused = [
    ['a tampered body', () => {
      const body = receipt('FAILED');
      return [body.replace('FAILED', 'READ'), signedHeaders(appSecret, body)];
    }],
    ['another secret', () => {
      const body = receipt('DELIVERED');
      return [body, signedHeaders('not-the-secret', body)];
    }],
    ['a stale timestamp (10 minutes old)', () => {
      const body = receipt('DELIVERED');
      return [body, signedHeaders(appSecret, body, { timestamp: Math.floor(Date.now() / 1000) - 600 })];
    }],
    ['a timestamp 10 minutes ahead', () => {
      const body = receipt('DELIVERED');
      return [body, signedHeaders(appSecret, body, { timestamp: Math.floor(Date.now() / 1000) + 600 })];
    }],
    ['no signature headers', () => [receipt('DELIVERED'), { 'Content-Type': 'application/json' }]],
  ];
  for (const [name, make] of refused) {
    test(`refuses ${name} with 401`, async (t) => {
      if (skip) return t.skip(skip);
      const [body, headers] = make();
      assert.equal((await post(body, headers)).status, 401);
    });
  }

  test('refuses a replayed receipt (same nonce) with 401', async (t) => {
    if (skip) return t.skip(skip);
    const body = receipt('DELIVERED');
    const headers = signedHeaders(overrideSecret, body);
    assert.equal((await post(body, headers)).status, 200);
    assert.equal((await post(body, headers)).status, 401);
  });

  test('accepts the simulator\'s callbacks, to its webhook and to overridden callback URLs', async (t) => {
    if (skip) return t.skip(skip);
    const sim = await h.startSim('--callback-url', hook, '--webhook-secret', appSecret,
      '--override-callback-secret', overrideSecret, '--reply-suffix', '99');
    try {
      const client = h.sdk(sim.url);
      const send = (extra) => client.conversation.messages.send({
        sendMessageRequestBody: {
          app_id: h.sim.appId, recipient: h.smsRecipient('+46701230099'),
          message: { text_message: { text: 'hi' } }, processing_strategy: 'DISPATCH_ONLY', ...extra,
        },
      });
      await send({});
      await send({ callback_url: hook });
      // 2 receipts each, and one inbound reply each to the app webhook.
      await h.waitUntil(async () => {
        const st = await h.stats(sim.url);
        return st.callbacks_sent + st.callbacks_failed >= 6;
      }, '6 callbacks');
      const st = await h.stats(sim.url);
      assert.equal(st.callbacks_failed, 0, 'the dashboard refused none');
      assert.equal(st.callbacks_sent, 6);
    } finally {
      await sim.stop();
    }
  });
});
