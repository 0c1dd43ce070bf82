// (b) Personal data in a prompt is redacted before it reaches the model: the simulator's
// request shows [EMAIL], and the ECHO reply shows what the model saw.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as L from './lib.mjs';

const topo = L.topology();
const B = L.upstream(topo, 'bedrock');
const A = L.upstream(topo, 'azure');
const br = L.bedrockClient({ port: B.port });
const az = L.azureClient({ port: A.port });
const v1 = L.openaiV1({ port: A.port });
const PROMPT = `ECHO my email is ${L.EMAIL}`;
const SEEN = 'ECHO my email is [EMAIL]';

async function upstreamSaw(port) {
    const last = await L.simLast(port);
    assert.equal(last.auth, 'valid', `the upstream refused the request: ${last.auth}`);
    assert.ok(!last.body.includes(L.EMAIL), `the address reached the model: ${last.body}`);
    assert.ok(last.body.includes('[EMAIL]'), `no [EMAIL] label in what the model got: ${last.body}`);
    return last;
}

test('Converse: the model gets [EMAIL], the app sees the echo', async () => {
    const r = await L.via(topo, 'bedrock', 'redact', 'b/converse', () => L.converse(br, PROMPT));
    const last = await upstreamSaw(B.simPort);
    assert.equal(JSON.parse(last.body).messages[0].content[0].text, SEEN);
    assert.equal(r.text, SEEN);
});

test('ConverseStream: redacted prompt', async () => {
    const r = await L.via(topo, 'bedrock', 'redact', 'b/converse-stream', () => L.converseStream(br, PROMPT));
    await upstreamSaw(B.simPort);
    assert.equal(r.text, SEEN);
});

test('InvokeModel (anthropic): redacted prompt, body re-signed', async () => {
    const r = await L.via(topo, 'bedrock', 'redact', 'b/invoke', () => L.invoke(br, PROMPT));
    const last = await upstreamSaw(B.simPort);
    assert.equal(JSON.parse(last.body).messages[0].content[0].text, SEEN);
    assert.equal(r.text, SEEN);
});

test('InvokeModelWithResponseStream: redacted prompt', async () => {
    const r = await L.via(topo, 'bedrock', 'redact', 'b/invoke-stream', () => L.invokeStream(br, PROMPT));
    await upstreamSaw(B.simPort);
    assert.equal(r.text, SEEN);
});

test('Azure chat: redacted prompt', async () => {
    const r = await L.via(topo, 'azure', 'redact', 'b/azure-chat', () => L.chat(az, PROMPT));
    const last = await upstreamSaw(A.simPort);
    assert.equal(JSON.parse(last.body).messages[0].content, SEEN);
    assert.equal(r.text, SEEN);
});

test('Azure chat streamed: redacted prompt', async () => {
    const r = await L.via(topo, 'azure', 'redact', 'b/azure-chat-stream', () => L.chatStream(az, PROMPT));
    await upstreamSaw(A.simPort);
    assert.equal(r.text, SEEN);
});

test('Responses API: redacted prompt', async () => {
    const r = await L.via(topo, 'azure', 'redact', 'b/responses', () => L.respond(v1, PROMPT));
    const last = await upstreamSaw(A.simPort);
    assert.equal(JSON.parse(last.body).input, SEEN);
    assert.equal(r.text, SEEN);
});

test('a system prompt and earlier turns are redacted too', async () => {
    const { ConverseCommand } = await import('@aws-sdk/client-bedrock-runtime');
    const r = await L.via(topo, 'bedrock', 'redact', 'b/converse-history', () =>
        br.send(
            new ConverseCommand({
                modelId: L.MODEL_CLAUDE,
                system: [{ text: `Escalations go to ${L.EMAIL}.` }],
                messages: [
                    { role: 'user', content: [{ text: `I am ${L.EMAIL}` }] },
                    { role: 'assistant', content: [{ text: 'Noted.' }] },
                    { role: 'user', content: [{ text: 'ECHO thanks' }] },
                ],
            }),
        ).then((x) => ({ ...x, requestId: x.$metadata.requestId })),
    );
    assert.equal(r.output.message.content[0].text, 'ECHO thanks');
    const last = await upstreamSaw(B.simPort);
    const body = JSON.parse(last.body);
    assert.equal(body.system[0].text, 'Escalations go to [EMAIL].');
    assert.equal(body.messages[0].content[0].text, 'I am [EMAIL]');
});
