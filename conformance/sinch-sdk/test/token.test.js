'use strict';
// The SDK's OAuth2 flow against sinchsim: JWT access tokens refreshed
// from their exp claim, and the 401 of an expired token.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('../lib/harness');

const text = (identity, body) => ({
  sendMessageRequestBody: {
    app_id: h.sim.appId,
    recipient: h.smsRecipient(identity),
    message: { text_message: { text: body } },
    processing_strategy: 'DISPATCH_ONLY',
  },
});

test('an expired JWT is replaced before the next send (--token-ttl 2s)', async () => {
  const sim = await h.startSim('--token-ttl', '2s');
  try {
    const client = h.sdk(sim.url);
    const phone = h.randomPhone();
    const first = await client.conversation.messages.send(text(phone, 'before expiry'));
    assert.match(first.message_id, /^[0-9A-Z]{26}$/);
    await new Promise((resolve) => setTimeout(resolve, 3000)); // past the token's exp
    const second = await client.conversation.messages.send(text(phone, 'after expiry'));
    assert.notEqual(second.message_id, first.message_id);
    const st = await h.stats(sim.url);
    // The SDK read exp from the JWT and fetched a new token first: no 401.
    assert.ok(st.token_requests >= 2, `token requests: got ${st.token_requests}, want at least 2`);
    assert.equal(st.by_status['401'] ?? 0, 0, 'no send met a 401');
    assert.equal(st.accepted, 2);
  } finally {
    await sim.stop();
  }
});

test('a 401 whose WWW-Authenticate says "expired" makes the SDK fetch a token and retry', async () => {
  const sim = await h.startSim('--token-ttl', '1h');
  try {
    const client = h.sdk(sim.url);
    const phone = h.randomPhone();
    await client.conversation.messages.send(text(phone, 'first'));
    const r = await fetch(sim.url + '/_sim/expire-tokens', { method: 'POST' });
    assert.equal(r.status, 200);
    const again = await client.conversation.messages.send(text(phone, 'after the token was revoked'));
    assert.ok(again.message_id);
    const st = await h.stats(sim.url);
    assert.equal(st.token_requests, 2, 'one token, then one after the 401');
    assert.equal(st.by_status['401'], 1, 'the revoked token met one 401');
    assert.equal(st.accepted, 2);
  } finally {
    await sim.stop();
  }
});

test('the token endpoint speaks RFC 6749 and issues a signed JWT with iat and exp', async () => {
  const sim = await h.startSim('--token-ttl', '90s');
  try {
    const basic = Buffer.from(`${h.sim.keyId}:${h.sim.keySecret}`).toString('base64');
    const r = await fetch(sim.url + '/oauth2/token', {
      method: 'POST',
      headers: { Authorization: `Basic ${basic}`, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });
    assert.equal(r.status, 200);
    const tok = await r.json();
    assert.equal(tok.token_type, 'bearer');
    assert.equal(tok.expires_in, 90);
    const [header, payload, sig] = tok.access_token.split('.');
    assert.ok(sig, 'signed');
    assert.equal(JSON.parse(Buffer.from(header, 'base64url')).alg, 'HS256');
    const claims = JSON.parse(Buffer.from(payload, 'base64url'));
    assert.equal(claims.exp - claims.iat, 90);

    const bad = await fetch(sim.url + `/v1/projects/${h.sim.projectId}/apps/${h.sim.appId}`,
      { headers: { Authorization: `Bearer ${header}.${payload}.AAAA` } });
    assert.equal(bad.status, 401);
    assert.doesNotMatch(bad.headers.get('www-authenticate'), /expired/, 'a forged token is invalid, not expired');
  } finally {
    await sim.stop();
  }
});
