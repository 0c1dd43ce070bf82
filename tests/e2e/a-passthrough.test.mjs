// (a) Pass-through: clean prompts reach the model unchanged, re-signed with the sidecar's
// own credentials (Bedrock) or its api-key (Azure); the SDK gets the model's reply unchanged.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as L from './lib.mjs';
import { SIM_DEFAULTS } from './sim.mjs';

const topo = L.topology();
const B = L.upstream(topo, 'bedrock');
const A = L.upstream(topo, 'azure');
const br = L.bedrockClient({ port: B.port }); // HTTP/2 (h2c), as the SDK does by default
const az = L.azureClient({ port: A.port });
const v1 = L.openaiV1({ port: A.port });
const PROMPT = 'Summarise the attached quarterly report in three bullet points.';
const REPLY = 'Hello from the simulator.';

/** The upstream request was signed by the sidecar, not the caller. */
function assertResigned(last) {
    assert.equal(last.auth, 'valid', `the simulator refused the signature: ${last.auth}`);
    const auth = last.headers.authorization;
    assert.match(auth, new RegExp(`Credential=${SIM_DEFAULTS.accessKeyId}/\\d{8}/${B.region}/bedrock/aws4_request`));
    assert.ok(!JSON.stringify(last.headers).includes(L.CALLER_CREDENTIALS.accessKeyId), "the caller's access key id reached the upstream");
}

/** The upstream Azure request carries the sidecar's api-key and no caller credentials. */
function assertAzureAuth(last) {
    assert.equal(last.auth, 'valid', `the simulator refused the request: ${last.auth}`);
    assert.equal(last.headers['api-key'], SIM_DEFAULTS.azureKey);
    assert.equal(last.headers.authorization, undefined);
    assert.ok(!JSON.stringify(last.headers).includes(L.CALLER_API_KEY), "the caller's key reached the upstream");
}

test('InvokeModel passes through and is re-signed', async () => {
    const [r, n] = await L.countingUpstream(B.simPort, () => L.via(topo, 'bedrock', 'allow', 'a/invoke', () => L.invoke(br, PROMPT)));
    assert.equal(n, 1, 'exactly one upstream request');
    assert.equal(r.status, 200);
    assert.equal(r.text, REPLY);
    assert.equal(r.json.stop_reason, 'end_turn');
    const last = await L.simLast(B.simPort);
    assertResigned(last);
    assert.equal(last.path, '/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke');
    assert.deepEqual(JSON.parse(last.body), JSON.parse(L.anthropicBody(PROMPT)));
});

test('InvokeModelWithResponseStream passes through', async () => {
    const r = await L.via(topo, 'bedrock', 'allow', 'a/invoke-stream', () => L.invokeStream(br, PROMPT));
    assert.equal(r.text, REPLY);
    assert.ok(r.deltas.length >= 2, 'the reply arrives in several deltas');
    assert.deepEqual(
        [...new Set(r.chunks.map((c) => c.type))],
        ['message_start', 'content_block_start', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop'],
    );
    assert.equal(r.stopReason, 'end_turn');
    const last = await L.simLast(B.simPort);
    assertResigned(last);
    assert.equal(last.path, '/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke-with-response-stream');
    assert.deepEqual(JSON.parse(last.body), JSON.parse(L.anthropicBody(PROMPT)));
});

test('Converse passes through', async () => {
    const r = await L.via(topo, 'bedrock', 'allow', 'a/converse', () => L.converse(br, PROMPT));
    assert.equal(r.text, REPLY);
    assert.equal(r.stopReason, 'end_turn');
    assert.ok(r.response.usage.inputTokens > 0);
    const last = await L.simLast(B.simPort);
    assertResigned(last);
    assert.equal(last.path, '/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse');
    assert.equal(JSON.parse(last.body).messages[0].content[0].text, PROMPT);
});

test('ConverseStream passes through', async () => {
    const r = await L.via(topo, 'bedrock', 'allow', 'a/converse-stream', () => L.converseStream(br, PROMPT));
    assert.equal(r.text, REPLY);
    assert.equal(r.stopReason, 'end_turn');
    const kinds = r.events.map((e) => Object.keys(e)[0]);
    assert.equal(kinds[0], 'messageStart');
    assert.ok(kinds.includes('contentBlockStop'));
    assert.ok(kinds.includes('metadata'));
    const last = await L.simLast(B.simPort);
    assertResigned(last);
    assert.equal(JSON.parse(last.body).messages[0].content[0].text, PROMPT);
});

test('the same listener serves HTTP/1.1 clients too', async () => {
    const h1 = L.bedrockClient({ port: B.port, http1: true });
    const r = await L.via(topo, 'bedrock', 'allow', 'a/converse-http1', () => L.converse(h1, PROMPT));
    assert.equal(r.text, REPLY);
});

test('Azure chat completions (deployments path) pass through', async () => {
    const [r, n] = await L.countingUpstream(A.simPort, () => L.via(topo, 'azure', 'allow', 'a/azure-chat', () => L.chat(az, PROMPT)));
    assert.equal(n, 1);
    assert.equal(r.text, REPLY);
    assert.equal(r.finishReason, 'stop');
    const last = await L.simLast(A.simPort);
    assertAzureAuth(last);
    assert.equal(last.path, '/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21');
    assert.equal(JSON.parse(last.body).messages[0].content, PROMPT);
});

test('Azure chat completions streamed pass through', async () => {
    const r = await L.via(topo, 'azure', 'allow', 'a/azure-chat-stream', () => L.chatStream(az, PROMPT));
    assert.equal(r.text, REPLY);
    assert.equal(r.finishReason, 'stop');
    assert.ok(r.deltas.length >= 2);
    const last = await L.simLast(A.simPort);
    assertAzureAuth(last);
    assert.equal(JSON.parse(last.body).stream, true);
});

test('Azure v1 chat completions with a bearer key: the upstream gets only the api-key', async () => {
    const r = await L.via(topo, 'azure', 'allow', 'a/azure-v1-chat', () => L.chat(v1, PROMPT));
    assert.equal(r.text, REPLY);
    const last = await L.simLast(A.simPort);
    assertAzureAuth(last);
    assert.equal(last.path, '/openai/v1/chat/completions');
    assert.equal(JSON.parse(last.body).model, 'gpt-4o');
});

test('Responses API (v1) passes through', async () => {
    const r = await L.via(topo, 'azure', 'allow', 'a/responses', () => L.respond(v1, PROMPT));
    assert.equal(r.text, REPLY);
    assert.equal(r.status, 'completed');
    const last = await L.simLast(A.simPort);
    assertAzureAuth(last);
    assert.equal(last.path, '/openai/v1/responses');
    assert.equal(JSON.parse(last.body).input, PROMPT);
});

test('Responses API (v1) streamed passes through', async () => {
    const r = await L.via(topo, 'azure', 'allow', 'a/responses-stream', () => L.respondStream(v1, PROMPT));
    assert.equal(r.text, REPLY);
    assert.equal(r.doneText, REPLY);
    assert.equal(r.final?.status, 'completed');
    assert.equal(r.types.at(-1), 'response.completed');
    assertAzureAuth(await L.simLast(A.simPort));
});

test('Responses API on the api-version path (AzureOpenAI client) passes through', async () => {
    const r = await L.via(topo, 'azure', 'allow', 'a/responses-dated', () => L.respond(az, PROMPT));
    assert.equal(r.text, REPLY);
    const last = await L.simLast(A.simPort);
    assertAzureAuth(last);
    assert.equal(last.path, '/openai/responses?api-version=2024-10-21');
});
