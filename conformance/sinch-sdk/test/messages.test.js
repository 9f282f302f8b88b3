'use strict';
// Sends, validation errors, DISPATCH_SOURCE listing and GET app through
// the SDK's Conversation API client.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('../lib/harness');

const textRequest = (identity, extra = {}) => ({
  sendMessageRequestBody: {
    app_id: h.sim.appId,
    recipient: h.smsRecipient(identity),
    message: { text_message: { text: 'Spring sale & more <today>' } },
    processing_strategy: 'DISPATCH_ONLY',
    ...extra,
  },
});

// sendError sends body and returns the SDK's error, failing if none.
async function sendError(client, body) {
  try {
    await client.conversation.messages.send({ sendMessageRequestBody: body });
  } catch (err) {
    return err;
  }
  assert.fail('the send was accepted, want a 400');
}

// assertInvalidArgument checks Sinch's error envelope as the SDK hands it
// over: 400 INVALID_ARGUMENT naming the field, with a google.rpc.BadRequest
// detail that holds the field too.
function assertInvalidArgument(err, field) {
  assert.equal(err.statusCode, 400, `status: ${err.message}`);
  const env = JSON.parse(err.data);
  assert.equal(env.error.code, 400);
  assert.equal(env.error.status, 'INVALID_ARGUMENT');
  assert.ok(env.error.message.includes(field), `message ${JSON.stringify(env.error.message)} names ${field}`);
  assert.equal(env.error.details.length, 1);
  assert.equal(env.error.details[0].type_url, 'type.googleapis.com/google.rpc.BadRequest');
  const detail = Buffer.from(env.error.details[0].value, 'base64').toString('utf8');
  assert.ok(detail.includes(field), `detail ${JSON.stringify(detail)} holds ${field}`);
}

describe('Conversation API through the SDK', () => {
  let sim;
  let client;
  before(async () => {
    sim = await h.startSim();
    client = h.sdk(sim.url);
  });
  after(() => sim?.stop());

  test('a DISPATCH_ONLY send with ttl, queue, correlation_id and message_metadata is accepted and stored', async () => {
    const phone = h.randomPhone();
    const resp = await client.conversation.messages.send(textRequest(phone, {
      ttl: 30, // the SDK turns a number into "30s"
      queue: 'HIGH_PRIORITY',
      correlation_id: 'spring:2',
      message_metadata: 'spring',
      conversation_metadata: { campaign: 'spring' },
      channel_priority_order: ['SMS'],
      message_content_type: 'CONTENT_MARKETING',
    }));
    assert.match(resp.message_id, /^[0-9A-Z]{26}$/);
    assert.ok(resp.accepted_time instanceof Date || !Number.isNaN(Date.parse(resp.accepted_time)),
      `accepted_time ${resp.accepted_time}`);
    const m = await client.conversation.messages.get({ message_id: resp.message_id, messages_source: 'DISPATCH_SOURCE' });
    assert.equal(m.id, resp.message_id);
    assert.equal(m.direction, 'TO_CONTACT');
    assert.equal(m.metadata, 'spring');
    assert.equal(m.processing_mode, 'DISPATCH');
    assert.deepEqual(m.channel_identity, { channel: 'SMS', identity: phone, app_id: '' });
    assert.equal(m.app_message.text_message.text, 'Spring sale & more <today>');
    assert.equal(m.message_status, null, 'message status is not persisted by default');
    assert.equal('sender_id' in m, false, 'no sender_id on an app message');
  });

  const invalid = [
    ['unknown field', { priority: 'high' }, 'priority'],
    ['missing app_id', { app_id: undefined }, 'app_id'],
    ['unknown app', { app_id: 'other-app' }, 'app_id'],
    ['missing recipient', { recipient: undefined }, 'recipient'],
    ['contact_id with DISPATCH_ONLY', { recipient: { contact_id: 'c1' } }, 'recipient.contact_id'],
    ['unknown channel', { recipient: { identified_by: { channel_identities: [{ channel: 'FAX', identity: '+46701234567' }] } } },
      'channel_identities[0].channel'],
    ['missing message', { message: undefined }, 'message'],
    ['empty text', { message: { text_message: { text: '' } } }, 'message.text_message.text'],
    ['two message kinds', { message: { text_message: { text: 'a' }, media_message: { url: 'https://example.com/a.png' } } }, 'message'],
    ['queue', { queue: 'LOW_PRIORITY' }, 'queue'],
    ['processing_strategy', { processing_strategy: 'FAST' }, 'processing_strategy'],
    ['ttl below 3 s', { ttl: 2 }, 'ttl'],
    ['ttl fractional', { ttl: '10.5' }, 'ttl'],
    ['correlation_id over 128 characters', { correlation_id: 'x'.repeat(129) }, 'correlation_id'],
    ['message_metadata over 1024 characters', { message_metadata: 'x'.repeat(1025) }, 'message_metadata'],
    ['conversation_metadata not an object', { conversation_metadata: 'k=v' }, 'conversation_metadata'],
    ['callback_url not http', { callback_url: 'ftp://example.com/cb' }, 'callback_url'],
    ['channel_priority_order', { channel_priority_order: ['SMS', 'FAX'] }, 'channel_priority_order[1]'],
  ];
  for (const [name, change, field] of invalid) {
    test(`send validation: ${name} is 400 INVALID_ARGUMENT naming ${field}`, async () => {
      const body = { ...textRequest(h.randomPhone()).sendMessageRequestBody, ...change };
      for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
      assertInvalidArgument(await sendError(client, body), field);
    });
  }

  const invalidList = [
    ['page_size over 1000', { page_size: 1001 }, 'page_size'],
    ['unknown messages_source', { messages_source: 'ARCHIVE' }, 'messages_source'],
    ['conversation_id with DISPATCH_SOURCE', { conversation_id: 'c1' }, 'conversation_id'],
    ['a page token not issued', { page_token: 'bm90LWEtdG9rZW4' }, 'page_token'],
  ];
  for (const [name, params, field] of invalidList) {
    test(`list validation: ${name} is 400 INVALID_ARGUMENT naming ${field}`, async () => {
      await assert.rejects(
        client.conversation.messages.list({ messages_source: 'DISPATCH_SOURCE', ...params }),
        (err) => { assertInvalidArgument(err, field); return true; });
    });
  }

  test('DISPATCH_SOURCE listing follows next_page_token through the SDK paginator', async () => {
    const s = await h.startSim();
    try {
      const c = h.sdk(s.url);
      const sent = [];
      for (let i = 0; i < 25; i++) {
        sent.push((await c.conversation.messages.send(textRequest(h.randomPhone(), { message_metadata: `m${i}` }))).message_id);
      }
      // Page by page.
      let page = await c.conversation.messages.list({ messages_source: 'DISPATCH_SOURCE', page_size: 10 });
      const sizes = [page.data.length];
      const ids = page.data.map((m) => m.id);
      while (page.hasNextPage) {
        page = await page.nextPage();
        sizes.push(page.data.length);
        ids.push(...page.data.map((m) => m.id));
      }
      assert.deepEqual(sizes, [10, 10, 5]);
      assert.deepEqual(ids, [...sent].reverse(), 'newest first, each message once');
      // And as an async iterator.
      const iterated = [];
      for await (const m of c.conversation.messages.list({ messages_source: 'DISPATCH_SOURCE', page_size: 7 })) {
        iterated.push(m.id);
      }
      assert.deepEqual(iterated, ids);
    } finally {
      await s.stop();
    }
  });

  test('GET app reports the settings Sinch reports, with the simulator\'s values', async () => {
    const app = await client.conversation.app.get({ app_id: h.sim.appId });
    assert.equal(app.id, h.sim.appId);
    assert.equal(app.processing_mode, 'CONVERSATION');
    assert.deepEqual(app.dispatch_retention_policy, { retention_type: 'MESSAGE_EXPIRE_POLICY', ttl_days: 1 });
    assert.deepEqual(app.persist_message_status, { enabled: false });
    assert.deepEqual(app.callback_settings, { secret_for_overridden_callback_urls: '' });
    assert.deepEqual(app.delivery_report_based_fallback, { enabled: false, delivery_report_waiting_time: 0 });
    assert.equal(app.message_retry_settings, null);
    assert.ok(app.channel_credentials.some((c) => c.channel === 'SMS' && c.state.status === 'ACTIVE'));
    await assert.rejects(client.conversation.app.get({ app_id: 'other-app' }), (err) => err.statusCode === 404);
  });
});

describe('an app that persists message status', () => {
  test('lists message_status in the SDK\'s shape {status, event_time, reason}', async () => {
    const s = await h.startSim('--persist-message-status', '--fail-suffix', '13');
    try {
      const c = h.sdk(s.url);
      const app = await c.conversation.app.get({ app_id: h.sim.appId });
      assert.deepEqual(app.persist_message_status, { enabled: true });
      const ok = (await c.conversation.messages.send(textRequest('+46701230001'))).message_id;
      const failed = (await c.conversation.messages.send(textRequest('+46701230013'))).message_id;
      const byID = {};
      for await (const m of c.conversation.messages.list({ messages_source: 'DISPATCH_SOURCE' })) byID[m.id] = m;
      assert.equal(Object.keys(byID).length, 2, 'no inbound message follows a failed delivery');
      assert.equal(byID[ok].message_status.status, 'DELIVERED');
      assert.ok(!Number.isNaN(Date.parse(byID[ok].message_status.event_time)));
      assert.equal(byID[failed].message_status.status, 'FAILED');
      assert.equal(byID[failed].message_status.reason, 'RECIPIENT_NOT_REACHABLE');
    } finally {
      await s.stop();
    }
  });
});

describe('several apps with their MT queues', () => {
  test('the SDK lists the apps, each with its outbound rate and channels, and a full queue is a 429', async () => {
    const s = await h.startSim('--apps', `${h.sim.appId}=20,small=1:SMS`, '--outbound-queue-size', '1');
    try {
      const c = h.sdk(s.url);
      const list = await c.conversation.app.list({});
      assert.deepEqual(list.apps.map((a) => [a.id, a.rate_limits.outbound]), [[h.sim.appId, 20], ['small', 1]]);
      const small = await c.conversation.app.get({ app_id: 'small' });
      assert.deepEqual(small.channel_credentials.map((cc) => cc.channel), ['SMS']);
      assert.equal(small.queue_stats.outbound_limit, 1);
      const toSmall = (phone) => c.conversation.messages.send({ sendMessageRequestBody: {
        ...textRequest(phone).sendMessageRequestBody, app_id: 'small' } });
      // Rate 1/s: the first leaves at once, the second waits, the third finds the queue full.
      await toSmall(h.randomPhone());
      await toSmall(h.randomPhone());
      await assert.rejects(toSmall(h.randomPhone()), (err) => {
        assert.equal(err.statusCode, 429, err.message);
        assert.equal(JSON.parse(err.data).error.status, 'RESOURCE_EXHAUSTED');
        return true;
      });
      // The other app's queue is its own.
      await c.conversation.messages.send(textRequest(h.randomPhone()));
      const st = await h.stats(s.url);
      assert.equal(st.apps.small.queue_full, 1);
      assert.equal(st.rate_limited_by.app_queue_full, 1);
      assert.equal(st.apps[h.sim.appId].accepted, 1);
      // A channel the app has no credentials for is refused.
      const err = await sendError(c, { ...textRequest(h.randomPhone()).sendMessageRequestBody, app_id: 'small',
        channel_priority_order: ['WHATSAPP'] });
      assertInvalidArgument(err, 'channel_priority_order[0]');
    } finally {
      await s.stop();
    }
  });
});
