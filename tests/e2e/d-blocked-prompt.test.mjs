// (d) A prompt with a card number is blocked before any upstream call, and the app gets the
// block in its provider's own format.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as L from './lib.mjs';

const topo = L.topology();
const B = L.upstream(topo, 'bedrock');
const A = L.upstream(topo, 'azure');
const br = L.bedrockClient({ port: B.port });
const az = L.azureClient({ port: A.port });
const v1 = L.openaiV1({ port: A.port });
const PROMPT = `my card is ${L.CARD}`;
const MESSAGE = /Card numbers must never reach a model/;

function noCard(x) {
    assert.ok(!L.CARD_DIGITS_RE.test(L.dump(x)), 'the card number came back to the app');
}

test('Converse: stopReason guardrail_intervened, no upstream call', async () => {
    const [r, n] = await L.countingUpstream(B.simPort, () => L.via(topo, 'bedrock', 'block', 'd/converse', () => L.converse(br, PROMPT)));
    assert.equal(n, 0, 'the blocked prompt reached the upstream');
    assert.equal(r.stopReason, 'guardrail_intervened');
    assert.match(r.text, MESSAGE);
    noCard(r.response);
});

test('ConverseStream: the stream ends with stopReason guardrail_intervened, no upstream call', async () => {
    const [r, n] = await L.countingUpstream(B.simPort, () =>
        L.via(topo, 'bedrock', 'block', 'd/converse-stream', () => L.converseStream(br, PROMPT)),
    );
    assert.equal(n, 0);
    assert.equal(r.stopReason, 'guardrail_intervened');
    noCard(r.events);
});

test('InvokeModel (anthropic): a valid body with the block message and INTERVENED', async () => {
    const [r, n] = await L.countingUpstream(B.simPort, () => L.via(topo, 'bedrock', 'block', 'd/invoke', () => L.invoke(br, PROMPT)));
    assert.equal(n, 0);
    assert.equal(r.status, 200);
    assert.ok(r.json, `the body is not JSON: ${r.raw.slice(0, 200)}`);
    assert.equal(r.json.type, 'message');
    assert.equal(r.json.role, 'assistant');
    assert.match(r.text, MESSAGE);
    assert.equal(r.json['amazon-bedrock-guardrailAction'], 'INTERVENED');
    noCard(r.raw);
});

test('Azure chat: BadRequestError 400 content_filter, no upstream call', async () => {
    const before = await L.simCount(A.simPort);
    const e = await L.viaRejects(topo, 'azure', 'block', 'd/azure-chat', () => L.chat(az, PROMPT));
    assert.equal(await L.simCount(A.simPort), before);
    assert.equal(e.constructor.name, 'BadRequestError', `got ${e.constructor.name}: ${e.message}`);
    assert.equal(e.status, 400);
    assert.equal(e.code, 'content_filter');
    assert.match(e.message, MESSAGE);
    noCard(e.error);
});

test('Azure chat streamed: the same 400 before any stream starts', async () => {
    const before = await L.simCount(A.simPort);
    const e = await L.viaRejects(topo, 'azure', 'block', 'd/azure-chat-stream', () => L.chatStream(az, PROMPT));
    assert.equal(await L.simCount(A.simPort), before);
    assert.equal(e.status, 400);
    assert.equal(e.code, 'content_filter');
});

test('Responses API: 400 content_filter, no upstream call', async () => {
    const before = await L.simCount(A.simPort);
    const e = await L.viaRejects(topo, 'azure', 'block', 'd/responses', () => L.respond(v1, PROMPT));
    assert.equal(await L.simCount(A.simPort), before);
    assert.equal(e.status, 400);
    assert.equal(e.code, 'content_filter');
});

test('a card number written with full-width digits is blocked too', async () => {
    const [r, n] = await L.countingUpstream(B.simPort, () =>
        L.via(topo, 'bedrock', 'block', 'd/converse-fullwidth', () => L.converse(br, 'card ４１１１１１１１１１１１１１１１')),
    );
    assert.equal(n, 0);
    assert.equal(r.stopReason, 'guardrail_intervened');
});
