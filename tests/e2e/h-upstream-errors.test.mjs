// (h) Upstream failures: provider errors are forwarded as the SDK's own exceptions, a reset
// mid-stream makes the SDK's stream fail (not a silently truncated success), an unreachable
// upstream gives 502, and a slow model is waited for.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as L from './lib.mjs';

const topo = L.topology();
const B = L.upstream(topo, 'bedrock');
const A = L.upstream(topo, 'azure');
const br = L.bedrockClient({ port: B.port });
const az = L.azureClient({ port: A.port });
const v1 = L.openaiV1({ port: A.port });

test('FAIL 500 on Converse: InternalServerException 500', async () => {
    const e = await L.viaRejects(topo, 'bedrock', 'allow', 'h/converse-500', () => L.converse(br, 'FAIL 500'));
    assert.equal(e.name, 'InternalServerException', `got ${e.name}: ${e.message}`);
    assert.equal(e.$metadata.httpStatusCode, 500);
});

test('FAIL 500 on InvokeModel: InternalServerException 500', async () => {
    const e = await L.viaRejects(topo, 'bedrock', 'allow', 'h/invoke-500', () => L.invoke(br, 'FAIL 500'));
    assert.equal(e.name, 'InternalServerException');
    assert.equal(e.$metadata.httpStatusCode, 500);
});

test('FAIL 429 on ConverseStream: ThrottlingException 429', async () => {
    const e = await L.viaRejects(topo, 'bedrock', 'allow', 'h/converse-stream-429', () => L.converseStream(br, 'FAIL 429'));
    assert.equal(e.name, 'ThrottlingException');
    assert.equal(e.$metadata.httpStatusCode, 429);
});

test('FAIL 500 on Azure chat: InternalServerError 500', async () => {
    const e = await L.viaRejects(topo, 'azure', 'allow', 'h/azure-500', () => L.chat(az, 'FAIL 500'));
    assert.equal(e.constructor.name, 'InternalServerError', `got ${e.constructor.name}: ${e.message}`);
    assert.equal(e.status, 500);
    assert.equal(e.code, 'InternalServerError');
});

test('FAIL 429 on Azure chat: RateLimitError 429 with retry-after', async () => {
    const e = await L.viaRejects(topo, 'azure', 'allow', 'h/azure-429', () => L.chat(az, 'FAIL 429'));
    assert.equal(e.status, 429);
    assert.equal(e.constructor.name, 'RateLimitError');
    assert.equal(e.headers?.get('retry-after'), '2');
});

/** The stream started (the SDK returned a stream) and then failed while being read. */
function failedMidStream(e) {
    assert.ok(e.partial, `the call failed before any stream started: ${e.name}: ${e.message}`);
}

test('RESET mid-stream: ConverseStream iteration throws', async () => {
    failedMidStream(await L.viaRejects(topo, 'bedrock', 'allow', 'h/converse-stream-reset', () => L.converseStream(br, 'RESET now')));
});

test('RESET mid-stream: InvokeModelWithResponseStream iteration throws', async () => {
    failedMidStream(await L.viaRejects(topo, 'bedrock', 'allow', 'h/invoke-stream-reset', () => L.invokeStream(br, 'RESET now')));
});

test('RESET mid-stream: Azure chat stream throws', async () => {
    failedMidStream(await L.viaRejects(topo, 'azure', 'allow', 'h/azure-stream-reset', () => L.chatStream(az, 'RESET now')));
});

test('RESET mid-stream: Responses stream throws', async () => {
    failedMidStream(await L.viaRejects(topo, 'azure', 'allow', 'h/responses-stream-reset', () => L.respondStream(v1, 'RESET now')));
});

test('RESET on a non-streamed call: an error, not a truncated body', async () => {
    const e = await L.viaRejects(topo, 'bedrock', 'allow', 'h/converse-reset', () => L.converse(br, 'RESET now'));
    assert.ok(e.$metadata?.httpStatusCode === undefined || e.$metadata.httpStatusCode >= 500, `got ${e.name} ${e.$metadata?.httpStatusCode}`);
});

test('an unreachable Bedrock upstream gives 502', async () => {
    const down = L.bedrockClient({ port: L.upstream(topo, 'bedrock-down').port });
    const e = await L.viaRejects(topo, 'bedrock-down', 'allow', 'h/bedrock-down', () => L.converse(down, 'hello'));
    assert.equal(e.$metadata?.httpStatusCode, 502, `got ${e.name}: ${e.message}`);
});

test('an unreachable Azure upstream gives 502', async () => {
    const down = L.azureClient({ port: L.upstream(topo, 'azure-down').port });
    const e = await L.viaRejects(topo, 'azure-down', 'allow', 'h/azure-down', () => L.chat(down, 'hello'));
    assert.equal(e.status, 502, `got ${e.status}: ${e.message}`);
});

test('a slow model (3 s) is waited for', async () => {
    const t0 = Date.now();
    const r = await L.via(topo, 'bedrock', 'allow', 'h/converse-slow', () => L.converseStream(br, 'SLOW hello'));
    assert.ok(Date.now() - t0 >= 2900);
    assert.equal(r.text, 'Hello from the simulator.');
});
