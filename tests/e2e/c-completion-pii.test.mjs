// (c) Personal data in a completion is redacted before it reaches the app, also when the
// model streams it split across deltas ("contact jane.d" + "oe@exam" + "ple.com ...").

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as L from './lib.mjs';

const topo = L.topology();
const B = L.upstream(topo, 'bedrock');
const A = L.upstream(topo, 'azure');
const br = L.bedrockClient({ port: B.port });
const az = L.azureClient({ port: A.port });
const v1 = L.openaiV1({ port: A.port });
const EXPECT = 'Sure: contact [EMAIL] for details.';

/** Nothing of the address in anything the client received. */
function noLeak(received) {
    const all = L.dump(received);
    assert.ok(!all.includes(L.EMAIL), 'the e-mail address reached the app');
    assert.ok(!/jane\.?d|oe@exam|example\.com/.test(all), `a fragment of the address reached the app: ${all.slice(0, 400)}`);
}

test('Converse: completion redacted', async () => {
    const r = await L.via(topo, 'bedrock', 'redact', 'c/converse', () => L.converse(br, 'LEAK EMAIL'));
    assert.equal(r.text, EXPECT);
    noLeak(r.response);
});

test('ConverseStream: completion redacted across deltas', async () => {
    const r = await L.via(topo, 'bedrock', 'redact', 'c/converse-stream', () => L.converseStream(br, 'LEAK EMAIL'));
    assert.equal(r.text, EXPECT);
    assert.equal(r.stopReason, 'end_turn');
    noLeak(r.events);
});

test('InvokeModel (anthropic): completion redacted', async () => {
    const r = await L.via(topo, 'bedrock', 'redact', 'c/invoke', () => L.invoke(br, 'LEAK EMAIL'));
    assert.equal(r.text, EXPECT);
    noLeak(r.raw);
});

test('InvokeModelWithResponseStream: completion redacted across chunks', async () => {
    const r = await L.via(topo, 'bedrock', 'redact', 'c/invoke-stream', () => L.invokeStream(br, 'LEAK EMAIL'));
    assert.equal(r.text, EXPECT);
    noLeak(r.chunks);
    assert.equal(r.chunks.at(-1).type, 'message_stop');
});

test('Azure chat: completion redacted', async () => {
    const r = await L.via(topo, 'azure', 'redact', 'c/azure-chat', () => L.chat(az, 'LEAK EMAIL'));
    assert.equal(r.text, EXPECT);
    noLeak(r.data);
});

test('Azure chat streamed: completion redacted across chunks', async () => {
    const r = await L.via(topo, 'azure', 'redact', 'c/azure-chat-stream', () => L.chatStream(az, 'LEAK EMAIL'));
    assert.equal(r.text, EXPECT);
    assert.equal(r.finishReason, 'stop');
    noLeak(r.chunks);
});

test('Azure v1 chat streamed: completion redacted', async () => {
    const r = await L.via(topo, 'azure', 'redact', 'c/azure-v1-chat-stream', () => L.chatStream(v1, 'LEAK EMAIL'));
    assert.equal(r.text, EXPECT);
    noLeak(r.chunks);
});

test('Responses API: completion redacted', async () => {
    const r = await L.via(topo, 'azure', 'redact', 'c/responses', () => L.respond(v1, 'LEAK EMAIL'));
    assert.equal(r.text, EXPECT);
    noLeak(r.data);
});

test('Responses API streamed: deltas, the done event and the final response are redacted', async () => {
    const r = await L.via(topo, 'azure', 'redact', 'c/responses-stream', () => L.respondStream(v1, 'LEAK EMAIL'));
    assert.equal(r.text, EXPECT);
    assert.equal(r.doneText, EXPECT);
    assert.equal(r.final?.output?.[0]?.content?.[0]?.text, EXPECT);
    noLeak(r.events);
});
