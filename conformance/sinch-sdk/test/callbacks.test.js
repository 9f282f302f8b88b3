'use strict';
// The simulator's callbacks as Sinch's SDK receives them: signatures
// checked with validateWebhookSignature, bodies parsed with the
// Conversation event parser.

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { validateWebhookSignature, ConversationCallbackWebhooks } = require('@sinch/sdk-core');
const h = require('../lib/harness');

const appSecret = 'conformance-app-secret';
const overrideSecret = 'conformance-override-secret';

describe('simulator callbacks', () => {
  let sim;
  let client;
  let appHook; // the app's webhook (--callback-url)
  let ownHook; // a message's own callback_url
  const parser = new ConversationCallbackWebhooks(appSecret);

  before(async () => {
    appHook = await h.receiver();
    ownHook = await h.receiver();
    sim = await h.startSim('--callback-url', appHook.url + '/app', '--webhook-secret', appSecret,
      '--override-callback-secret', overrideSecret, '--reply-suffix', '99', '--fail-suffix', '13',
      '--callback-workers', '1');
    client = h.sdk(sim.url);
  });
  // Everything started is stopped even if before failed half-way, so the
  // file's process can exit.
  after(async () => {
    await sim?.stop();
    await appHook?.close();
    await ownHook?.close();
  });

  const send = (identity, extra = {}) => client.conversation.messages.send({
    sendMessageRequestBody: {
      app_id: h.sim.appId,
      recipient: h.smsRecipient(identity),
      message: { text_message: { text: 'hi' } },
      processing_strategy: 'DISPATCH_ONLY',
      ...extra,
    },
  });

  // events returns the parsed callbacks about messageID, in arrival order.
  const events = (hook, messageID) => hook.got
    .map((cb) => ({ cb, ev: parser.parseEvent(cb.body) }))
    .filter(({ ev }) => (ev.message_delivery_report?.message_id ?? ev.message?.contact_message?.reply_to?.message_id) === messageID);

  test('receipts to the app webhook are signed with its secret and parse as MESSAGE_DELIVERY', async () => {
    const before = appHook.got.length;
    const { message_id: id } = await send('+46701230001', { correlation_id: 'c:2', message_metadata: 'a&b<c>' });
    await appHook.waitFor(before + 2);
    const got = events(appHook, id);
    assert.deepEqual(got.map(({ ev }) => ev.message_delivery_report.status), ['QUEUED_ON_CHANNEL', 'DELIVERED']);
    for (const { cb, ev } of got) {
      assert.equal(validateWebhookSignature(appSecret, cb.headers, cb.body), true, 'valid with the app secret');
      assert.equal(validateWebhookSignature(overrideSecret, cb.headers, cb.body), false, 'not with the override secret');
      assert.equal(validateWebhookSignature(appSecret, cb.headers, cb.body.replace('DELIVERED', 'READ').replace('QUEUED_ON_CHANNEL', 'READ')),
        false, 'a tampered body fails');
      assert.equal(cb.headers['x-sinch-webhook-signature-algorithm'], 'HmacSHA256');
      assert.equal(ev.trigger, 'MESSAGE_DELIVERY');
      assert.equal(ev.app_id, h.sim.appId);
      assert.equal(ev.project_id, h.sim.projectId);
      assert.equal(ev.correlation_id, 'c:2');
      assert.equal(ev.message_metadata, 'a&b<c>');
      assert.ok(cb.body.includes('"a&b<c>"'), `body ${cb.body} escapes nothing`);
      assert.deepEqual(ev.message_delivery_report.channel_identity, { channel: 'SMS', identity: '+46701230001', app_id: '' });
      assert.equal(ev.message_delivery_report.processing_mode, 'DISPATCH');
    }
  });

  test('receipts to a message\'s own callback_url are signed with the secret for overridden callback URLs', async () => {
    const { message_id: id } = await send('+46701230002', { callback_url: ownHook.url + '/own' });
    await ownHook.waitFor(2);
    const got = events(ownHook, id);
    assert.equal(got.length, 2);
    for (const { cb } of got) {
      assert.equal(cb.path, '/own');
      assert.equal(validateWebhookSignature(overrideSecret, cb.headers, cb.body), true, 'valid with the override secret');
      assert.equal(validateWebhookSignature(appSecret, cb.headers, cb.body), false, 'not with the app secret');
    }
    const app = await client.conversation.app.get({ app_id: h.sim.appId });
    assert.deepEqual(app.callback_settings, { secret_for_overridden_callback_urls: overrideSecret });
  });

  test('a failed delivery is a FAILED receipt with a reason, and no inbound message follows', async () => {
    const failed = (await send('+46701230013')).message_id;
    // Sent after the failure, with one callback worker: its inbound reply
    // comes after anything the failure could bring.
    const asked = (await send('+46701230099')).message_id;
    await h.waitUntil(() => events(appHook, asked).some(({ ev }) => ev.trigger === 'MESSAGE_INBOUND'), 'the reply');
    const fail = events(appHook, failed);
    assert.deepEqual(fail.map(({ ev }) => ev.trigger), ['MESSAGE_DELIVERY', 'MESSAGE_DELIVERY'], 'receipts only');
    const final = fail[1].ev.message_delivery_report;
    assert.equal(final.status, 'FAILED');
    assert.equal(final.reason.code, 'RECIPIENT_NOT_REACHABLE');
    assert.ok(appHook.got.every((cb) => !cb.body.includes('fallback_message')), 'no fallback_message anywhere');

    const reply = events(appHook, asked).find(({ ev }) => ev.trigger === 'MESSAGE_INBOUND');
    assert.equal(validateWebhookSignature(appSecret, reply.cb.headers, reply.cb.body), true);
    const msg = reply.ev.message;
    assert.equal(msg.direction, 'TO_APP');
    assert.equal(msg.contact_message.text_message.text, 'STOP');
    assert.equal(msg.contact_message.reply_to.message_id, asked);
    assert.equal('sender_id' in msg, false, 'no empty sender_id on an inbound SMS');
    assert.equal(msg.message_status, null);
  });
});

describe('channel fallback', () => {
  test('a recipient failing on its first channel gets SWITCHING_CHANNEL, then DELIVERED on the next, as the SDK parses them', async () => {
    const hook = await h.receiver();
    const s = await h.startSim('--callback-url', hook.url, '--webhook-secret', appSecret,
      '--fail-first-channel', '7777$', '--persist-message-status');
    try {
      const c = h.sdk(s.url);
      const phone = '+46707777777';
      const { message_id: id } = await c.conversation.messages.send({
        sendMessageRequestBody: {
          app_id: h.sim.appId,
          recipient: { identified_by: { channel_identities: [
            { channel: 'SMS', identity: phone }, { channel: 'RCS', identity: phone }] } },
          message: { text_message: { text: 'hi' } },
          channel_priority_order: ['RCS', 'SMS'],
          processing_strategy: 'DISPATCH_ONLY',
        },
      });
      await hook.waitFor(4);
      const parser = new ConversationCallbackWebhooks(appSecret);
      const reports = hook.got.map((cb) => parser.parseEvent(cb.body).message_delivery_report)
        .filter((r) => r?.message_id === id);
      assert.deepEqual(reports.map((r) => `${r.status} ${r.channel_identity.channel}`),
        ['QUEUED_ON_CHANNEL RCS', 'SWITCHING_CHANNEL RCS', 'QUEUED_ON_CHANNEL SMS', 'DELIVERED SMS']);
      assert.equal(reports[1].reason.code, 'RECIPIENT_NOT_REACHABLE');
      const m = await c.conversation.messages.get({ message_id: id, messages_source: 'DISPATCH_SOURCE' });
      assert.equal(m.channel_identity.channel, 'SMS', 'the message is listed on the channel that delivered it');
      assert.equal(m.message_status.status, 'DELIVERED');
    } finally {
      await s.stop();
      await hook.close();
    }
  });
});
