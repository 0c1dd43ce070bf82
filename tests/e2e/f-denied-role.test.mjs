// (f) Role allowlists (role-scoped policy): a listener whose principal is the intern role is
// denied with AccessDeniedException (403) and nothing reaches the model; the application
// role on the same policy is served.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as L from './lib.mjs';

const topo = L.topology();
const INTERN = L.upstream(topo, 'bedrock-intern');
const APP = L.upstream(topo, 'bedrock-app');
const intern = L.bedrockClient({ port: INTERN.port });
const app = L.bedrockClient({ port: APP.port });

test('the application role is allowed under the role-scoped policy', async () => {
    const r = await L.via(topo, 'bedrock-app', 'allow', 'f/app-converse', () => L.converse(app, 'Summarise this ticket.'));
    assert.equal(r.text, 'Hello from the simulator.');
});

test('Converse as the intern role: AccessDeniedException 403, no upstream call', async () => {
    const before = await L.simCount(INTERN.simPort);
    const e = await L.viaRejects(topo, 'bedrock-intern', 'block', 'f/intern-converse', () => L.converse(intern, 'Summarise this ticket.'));
    assert.equal(await L.simCount(INTERN.simPort), before);
    assert.equal(e.name, 'AccessDeniedException', `got ${e.name}: ${e.message}`);
    assert.equal(e.$metadata.httpStatusCode, 403);
});

test('InvokeModel and ConverseStream as the intern role are denied too', async () => {
    const before = await L.simCount(INTERN.simPort);
    const e1 = await L.viaRejects(topo, 'bedrock-intern', 'block', 'f/intern-invoke', () => L.invoke(intern, 'hello'));
    assert.equal(e1.name, 'AccessDeniedException');
    assert.equal(e1.$metadata.httpStatusCode, 403);
    const e2 = await L.viaRejects(topo, 'bedrock-intern', 'block', 'f/intern-converse-stream', () => L.converseStream(intern, 'hello'));
    assert.equal(e2.name, 'AccessDeniedException');
    assert.equal(await L.simCount(INTERN.simPort), before);
});

test('a model outside the allow list is denied for an allowed role', async () => {
    const e = await L.viaRejects(topo, 'bedrock-app', 'block', 'f/app-denied-model', () =>
        L.converse(app, 'hello', 'meta.llama3-70b-instruct-v1:0'),
    );
    assert.equal(e.name, 'AccessDeniedException');
    assert.equal(e.$metadata.httpStatusCode, 403);
});
