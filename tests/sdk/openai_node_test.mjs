// The official OpenAI Node SDK (npm package `openai`) against a running `troupe serve`.
// Usage: node openai_node_test.mjs BASE_URL MODEL_NAME   (BASE_URL like http://127.0.0.1:8000)
// `openai` must resolve from this file's folder (tests/sdk/openai_node_test.sh arranges that).
// Exits 1 with "FAIL <check>: <why>" on the first failure; prints a summary on success.
import OpenAI from "openai";

const [baseUrl, model] = process.argv.slice(2);
if (!baseUrl || !model) {
  console.error("usage: node openai_node_test.mjs BASE_URL MODEL_NAME");
  process.exit(2);
}

const client = new OpenAI({
  baseURL: `${baseUrl.replace(/\/+$/, "")}/v1`,
  apiKey: process.env.OPENAI_API_KEY || "unused",
  maxRetries: 0,  // a failure must show, not be retried away
  timeout: 120_000,
});

class CheckError extends Error {}
function check(cond, message) {
  if (!cond) throw new CheckError(message);
}
const show = (v) => JSON.stringify(v);
function sameText(got, want, what) {
  check(got === want, `${what}: got ${show(got)}, expected ${show(want)}`);
}
function checkUsage(usage, what) {
  check(usage && typeof usage === "object", `${what}: no usage object (${show(usage)})`);
  for (const k of ["prompt_tokens", "completion_tokens", "total_tokens"])
    check(Number.isInteger(usage[k]) && usage[k] >= 0, `${what}: usage.${k} is ${show(usage[k])}`);
  check(usage.prompt_tokens > 0, `${what}: usage.prompt_tokens is 0`);
  check(usage.total_tokens === usage.prompt_tokens + usage.completion_tokens,
        `${what}: total_tokens != prompt_tokens + completion_tokens (${show(usage)})`);
}

const passed = [];
async function step(name, fn) {
  try {
    const note = await fn();
    passed.push(note ? `${name}: ${note}` : name);
  } catch (e) {
    let why;
    if (e instanceof CheckError) why = e.message;
    else if (e instanceof OpenAI.APIError)
      why = `SDK raised ${e.constructor.name} (status ${e.status}): ${e.message}; body: ${show(e.error)}`;
    else why = `${e?.constructor?.name ?? "error"}: ${e?.stack ?? e}`;
    console.error(`FAIL ${name}: ${why}`);
    process.exit(1);
  }
}

// Streams a request; returns the concatenated text, the last finish_reason and every chunk.
async function collect(stream, textOf) {
  let text = "";
  let finish = null;
  const chunks = [];
  for await (const chunk of stream) {
    chunks.push(chunk);
    for (const choice of chunk.choices ?? []) {
      check(choice.index === 0, `chunk choice index is ${show(choice.index)}: ${show(chunk)}`);
      text += textOf(choice) ?? "";
      if (choice.finish_reason != null) {
        check(finish === null, `two chunks carry a finish_reason: ${show(chunk)}`);
        finish = choice.finish_reason;
      }
    }
  }
  return { text, finish, chunks };
}

const prompt = "The quick brown fox jumps over the lazy dog. Once upon a time";
const maxTokens = 24;
const completionParams = { model, prompt, max_tokens: maxTokens, temperature: 0 };
const chatParams = {
  model,
  messages: [
    { role: "system", content: "You are a helpful assistant." },
    { role: "user", content: "Write a short poem about the sea." },
  ],
  max_tokens: maxTokens,
  temperature: 0,
};

let greedyText = "";  // the non-streamed completion, for the stop check

// (a) completions: non-streamed and streamed greedy outputs agree.
await step("completions (non-streamed vs streamed)", async () => {
  const full = await client.completions.create(completionParams);
  check(full.object === "text_completion", `object is ${show(full.object)}`);
  check(full.model === model, `model is ${show(full.model)}`);
  check(typeof full.id === "string" && full.id.length > 0, `id is ${show(full.id)}`);
  check(Array.isArray(full.choices) && full.choices.length === 1, `choices: ${show(full.choices)}`);
  const choice = full.choices[0];
  check(typeof choice.text === "string" && choice.text.length > 0, `text is ${show(choice.text)}`);
  check(choice.finish_reason === "length" || choice.finish_reason === "stop",
        `finish_reason is ${show(choice.finish_reason)}`);
  checkUsage(full.usage, "usage");
  check(choice.finish_reason !== "length" || full.usage.completion_tokens === maxTokens,
        `finish_reason "length" but completion_tokens ${full.usage.completion_tokens} != max_tokens ${maxTokens}`);
  greedyText = choice.text;

  const s = await collect(await client.completions.create({ ...completionParams, stream: true }), (c) => c.text);
  check(s.chunks.length >= 2, `only ${s.chunks.length} chunks streamed`);
  for (const c of s.chunks) {
    check(c.object === "text_completion", `chunk object is ${show(c.object)}`);
    check(c.id === s.chunks[0].id, `chunk ids differ: ${show(c.id)} vs ${show(s.chunks[0].id)}`);
  }
  sameText(s.text, choice.text, "streamed deltas vs non-streamed text");
  check(s.finish === choice.finish_reason, `streamed finish_reason ${show(s.finish)} vs ${show(choice.finish_reason)}`);
  return `${full.usage.completion_tokens} tokens, finish_reason ${choice.finish_reason}, ${s.chunks.length} chunks`;
});

// (b) chat completions: the same, with stream_options.include_usage.
await step("chat completions (non-streamed vs streamed, include_usage)", async () => {
  const full = await client.chat.completions.create(chatParams);
  check(full.object === "chat.completion", `object is ${show(full.object)}`);
  check(full.model === model, `model is ${show(full.model)}`);
  check(Array.isArray(full.choices) && full.choices.length === 1, `choices: ${show(full.choices)}`);
  const choice = full.choices[0];
  check(choice.message?.role === "assistant", `message.role is ${show(choice.message?.role)}`);
  const content = choice.message.content;
  check(typeof content === "string" && content.length > 0, `message.content is ${show(content)}`);
  check(choice.finish_reason === "length" || choice.finish_reason === "stop",
        `finish_reason is ${show(choice.finish_reason)}`);
  checkUsage(full.usage, "usage");

  const stream = await client.chat.completions.create({ ...chatParams, stream: true, stream_options: { include_usage: true } });
  const s = await collect(stream, (c) => c.delta?.content);
  for (const c of s.chunks) {
    check(c.object === "chat.completion.chunk", `chunk object is ${show(c.object)}`);
    check(c.id === s.chunks[0].id, `chunk ids differ: ${show(c.id)} vs ${show(s.chunks[0].id)}`);
  }
  check(s.chunks[0].choices?.[0]?.delta?.role === "assistant", `first chunk has no assistant role: ${show(s.chunks[0])}`);
  sameText(s.text, content, "streamed deltas vs non-streamed content");
  check(s.finish === choice.finish_reason, `streamed finish_reason ${show(s.finish)} vs ${show(choice.finish_reason)}`);
  const last = s.chunks.at(-1);
  check(Array.isArray(last.choices) && last.choices.length === 0, `usage chunk should have empty choices: ${show(last)}`);
  checkUsage(last.usage, "usage chunk");
  check(show(last.usage) === show(full.usage) ||
          (last.usage.prompt_tokens === full.usage.prompt_tokens &&
           last.usage.completion_tokens === full.usage.completion_tokens),
        `usage chunk ${show(last.usage)} vs non-streamed usage ${show(full.usage)}`);
  for (const c of s.chunks.slice(0, -1))
    check(c.usage == null, `a chunk before the last carries usage: ${show(c)}`);
  return `${full.usage.completion_tokens} tokens, finish_reason ${choice.finish_reason}, usage chunk ${show(last.usage)}`;
});

// (b') the SDK's own stream accumulator (chat.completions.stream) rebuilds the same completion.
await step("chat completions (SDK stream helper, finalChatCompletion)", async () => {
  // openai 5.x: chat.completions.stream; 4.x: beta.chat.completions.stream.
  const completions = typeof client.chat.completions.stream === "function" ? client.chat.completions
                                                                           : client.beta.chat.completions;
  const runner = completions.stream({ ...chatParams, stream_options: { include_usage: true } });
  const final = await runner.finalChatCompletion();
  const again = await client.chat.completions.create(chatParams);
  sameText(final.choices?.[0]?.message?.content, again.choices[0].message.content, "accumulated content");
  check(final.choices[0].finish_reason === again.choices[0].finish_reason,
        `accumulated finish_reason ${show(final.choices[0].finish_reason)}`);
  checkUsage(final.usage, "accumulated usage");
});

// (c) models.list() names the served model.
await step("models.list", async () => {
  const ids = [];
  for await (const m of client.models.list()) {
    check(m.object === "model", `model object is ${show(m.object)}`);
    ids.push(m.id);
  }
  check(ids.includes(model), `served model ${show(model)} not in ${show(ids)}`);
  const one = await client.models.retrieve(model).catch((e) => e);
  // /v1/models/{id} is optional for this check; report it if the server has it wrong.
  if (!(one instanceof Error)) check(one.id === model, `models.retrieve gave ${show(one)}`);
  return `${show(ids)}${one instanceof Error ? ` (models.retrieve: ${one.status ?? one.message})` : ""}`;
});

// (d) a bad request raises BadRequestError with OpenAI's error fields.
async function expectBadRequest(params, create, what) {
  let err = null;
  try {
    const r = await create(params);
    if (params.stream) for await (const _ of r);  // an error must come before the stream
  } catch (e) {
    err = e;
  }
  check(err !== null, `${what}: no error raised`);
  check(err instanceof OpenAI.BadRequestError,
        `${what}: raised ${err?.constructor?.name} (status ${err?.status}), not BadRequestError: ${err?.message}`);
  check(err.status === 400, `${what}: status ${err.status}`);
  check(err.type === "invalid_request_error", `${what}: type ${show(err.type)} (body ${show(err.error)})`);
  check(err.param === "top_p", `${what}: param ${show(err.param)} (body ${show(err.error)})`);
  check(typeof err.error?.message === "string" && err.error.message.length > 0,
        `${what}: error.message missing (body ${show(err.error)})`);
  return err;
}
await step("bad requests -> BadRequestError / NotFoundError", async () => {
  const e = await expectBadRequest({ ...completionParams, top_p: 5 }, (p) => client.completions.create(p), "completions top_p 5");
  await expectBadRequest({ ...completionParams, top_p: 5, stream: true }, (p) => client.completions.create(p),
                         "streamed completions top_p 5");
  await expectBadRequest({ ...chatParams, top_p: 5 }, (p) => client.chat.completions.create(p), "chat top_p 5");
  let nf = null;
  try {
    await client.completions.create({ ...completionParams, model: `${model}-no-such-model` });
  } catch (e) {
    nf = e;
  }
  check(nf instanceof OpenAI.NotFoundError && nf.status === 404,
        `unknown model: expected NotFoundError 404, got ${nf?.constructor?.name} (status ${nf?.status}): ${nf?.message}`);
  return `400 ${show(e.error.message)}; unknown model -> NotFoundError 404`;
});

// (e) a stop string from the middle of the greedy text ends the text before it.
await step("stop sequence", async () => {
  const chars = Array.from(greedyText);  // code points: never split a surrogate pair
  let stop = null;
  let cut = -1;
  for (let start = Math.floor(chars.length / 2); start + 3 <= chars.length && stop === null; ++start) {
    const candidate = chars.slice(start, start + 3).join("");
    const at = greedyText.indexOf(candidate);
    if (candidate.trim().length > 0 && at > 0) [stop, cut] = [candidate, at];
  }
  check(stop !== null, `no usable stop string in ${show(greedyText)}`);
  const want = greedyText.slice(0, cut);

  const full = await client.completions.create({ ...completionParams, stop: [stop] });
  sameText(full.choices[0].text, want, `text with stop ${show(stop)} (greedy text ${show(greedyText)})`);
  check(full.choices[0].finish_reason === "stop", `finish_reason is ${show(full.choices[0].finish_reason)}`);

  const s = await collect(await client.completions.create({ ...completionParams, stop, stream: true }), (c) => c.text);
  sameText(s.text, want, `streamed text with stop ${show(stop)}`);
  check(s.finish === "stop", `streamed finish_reason is ${show(s.finish)}`);
  return `stop ${show(stop)} -> ${show(want)}`;
});

// (f) logprobs: the SDK parses both shapes, and its stream helper accumulates chat's entries.
function checkChatLogprobs(choice, completionTokens, top, what) {
  const content = choice.logprobs?.content;
  check(Array.isArray(content), `${what}: logprobs.content is ${show(choice.logprobs)}`);
  check(content.length === completionTokens, `${what}: ${content.length} entries for ${completionTokens} tokens`);
  for (const e of content) {
    check(typeof e.token === "string" && typeof e.logprob === "number" && e.logprob <= 0, `${what}: entry ${show(e)}`);
    check(Array.isArray(e.bytes) && e.bytes.every((b) => Number.isInteger(b) && b >= 0 && b < 256), `${what}: bytes ${show(e)}`);
    check(Array.isArray(e.top_logprobs) && e.top_logprobs.length === top, `${what}: top_logprobs ${show(e)}`);
    for (const t of e.top_logprobs)
      check(typeof t.token === "string" && typeof t.logprob === "number" && Array.isArray(t.bytes), `${what}: top entry ${show(t)}`);
  }
}
await step("logprobs (completions, chat, chat stream helper)", async () => {
  const c = await client.completions.create({ ...completionParams, max_tokens: 5, logprobs: 2 });
  const lp = c.choices[0].logprobs;
  for (const key of ["tokens", "token_logprobs", "top_logprobs", "text_offset"])
    check(Array.isArray(lp?.[key]) && lp[key].length === c.usage.completion_tokens, `completions logprobs.${key}: ${show(lp)}`);
  check(lp.top_logprobs.every((d) => d && typeof d === "object" && Object.keys(d).length >= 1),
        `completions top_logprobs: ${show(lp.top_logprobs)}`);

  const params = { ...chatParams, max_tokens: 5, logprobs: true, top_logprobs: 2 };
  const full = await client.chat.completions.create(params);
  checkChatLogprobs(full.choices[0], full.usage.completion_tokens, 2, "chat");
  const completions = typeof client.chat.completions.stream === "function" ? client.chat.completions
                                                                           : client.beta.chat.completions;
  const final = await completions.stream({ ...params, stream_options: { include_usage: true } }).finalChatCompletion();
  checkChatLogprobs(final.choices[0], final.usage.completion_tokens, 2, "chat stream helper");
  return `${full.choices[0].logprobs.content.length} chat entries, first ${show(full.choices[0].logprobs.content[0].token)}`;
});

console.log(`openai-node against ${baseUrl} (model ${model}): ${passed.length} checks passed`);
for (const p of passed) console.log(`  ok  ${p}`);
