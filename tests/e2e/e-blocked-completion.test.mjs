// (e) A completion with a card number is blocked: streams end with the provider's
// "intervened" signal, and no card digits reach the app (not even split over deltas).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as L from './lib.mjs';

const topo = L.topology();
const B = L.upstream(topo, 'bedrock');
const A = L.upstream(topo, 'azure');
const br = L.bedrockClient({ port: B.port });
const az = L.azureClient({ port: A.port });
const v1 = L.openaiV1({ port: A.port });

/** No card digits in what the app got, also reading the deltas joined. */
function noCard(x, deltas = []) {
    const all = L.dump(x);
    assert.ok(!L.CARD_DIGITS_RE.test(all), 'card digits reached the app');
    assert.ok(!L.CARD_DIGITS_RE.test(deltas.join('')), 'card digits reached the app across deltas');
    assert.ok(!/4111[\s-]*11/.test(deltas.join('')), `the start of the card number was released: ${JSON.stringify(deltas)}`);
}

/** Runs a stream that may end normally or with an error; returns what arrived. */
async function settle(p) {
    try {
        return { ok: true, ...(await p) };
    } catch (e) {
        return { ok: false, error: e, ...(e.partial ?? {}) };
    }
}

test('ConverseStream: ends with messageStop guardrail_intervened', async () => {
    const r = await L.via(topo, 'bedrock', 'block', 'e/converse-stream', () => L.converseStream(br, 'LEAK CARD'));
    assert.equal(r.stopReason, 'guardrail_intervened');
    noCard(r.events, r.deltas);
});

test('Azure chat streamed: ends with finish_reason content_filter', async () => {
    const r = await L.via(topo, 'azure', 'block', 'e/azure-chat-stream', () => L.chatStream(az, 'LEAK CARD'));
    assert.equal(r.finishReason, 'content_filter');
    noCard(r.chunks, r.deltas);
});

test('Converse (not streamed): guardrail_intervened, no digits', async () => {
    const r = await L.via(topo, 'bedrock', 'block', 'e/converse', () => L.converse(br, 'LEAK CARD'));
    assert.equal(r.stopReason, 'guardrail_intervened');
    noCard(r.response);
});

test('InvokeModelWithResponseStream: no card digits reach the app, the end says INTERVENED', async () => {
    const r = await settle(L.via(topo, 'bedrock', 'block', 'e/invoke-stream', () => L.invokeStream(br, 'LEAK CARD')));
    if (!r.ok) assert.ok(r.error.partial, `the call failed before the stream started: ${r.error.name}: ${r.error.message}`);
    noCard(r.chunks ?? [], r.deltas ?? []);
    if (r.ok) {
        // The end of the stream must say the guardrail intervened (as for a blocked prompt).
        const end = r.chunks.find((c) => c.type === 'message_delta') ?? {};
        assert.ok(
            end.delta?.stop_reason === 'guardrail_intervened' || end['amazon-bedrock-guardrailAction'] === 'INTERVENED',
            `the stream ended like a normal completion: ${JSON.stringify(end)}`,
        );
    }
});

test('Azure chat (not streamed): finish_reason content_filter or a 400 content_filter, no digits', async () => {
    const r = await settle(L.via(topo, 'azure', 'block', 'e/azure-chat', () => L.chat(az, 'LEAK CARD')));
    if (r.ok) {
        assert.equal(r.finishReason, 'content_filter');
        noCard(r.data);
    } else {
        assert.equal(r.error.status, 400);
        assert.equal(r.error.code, 'content_filter');
        noCard(r.error.error);
    }
});

test('Responses API streamed: no card digits reach the app, no normal completion', async () => {
    const r = await settle(L.via(topo, 'azure', 'block', 'e/responses-stream', () => L.respondStream(v1, 'LEAK CARD')));
    if (!r.ok) assert.ok(r.error.partial, `the call failed before the stream started: ${r.error.name}: ${r.error.message}`);
    noCard(r.events ?? [], r.deltas ?? []);
    if (r.ok) assert.notEqual(r.final?.status, 'completed', 'a blocked completion must not look like a normal end');
});
