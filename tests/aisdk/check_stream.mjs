// Feeds SSE files through the real AI SDK client parser (ai@6 in .tools/node_modules):
// parseJsonEventStream + uiMessageChunkSchema (what DefaultChatTransport does), then
// readUIMessageStream (the processUIMessageStream state machine useChat runs).
//
// usage: node check_stream.mjs [--expect-error] FILE [[--expect-error] FILE ...]
// Prints one JSON line per file: {file, ok, error?, chunks, errorChunks, finishReason, text,
// answerText, parts}. `answerText` is what the README tells a useChat UI to show: the text parts
// except those a `data-interrupted` part follows (text cut off mid-message, redone after).
// A stream is ok when every event parses against the schema and the client raises no
// error except the in-band `error` chunks it contains (a failed run's stream); with
// --expect-error before a file, that file must also contain at least one such chunk.
// Exits 1 if any file is not ok, 2 on a usage error.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';

// Resolve through the packages' own `exports` (require condition) from .tools/.
const requireFromTools = createRequire(new URL('../../.tools/package.json', import.meta.url));
const { readUIMessageStream, uiMessageChunkSchema } = requireFromTools('ai');
const { parseJsonEventStream } = requireFromTools('@ai-sdk/provider-utils');

function parseArgs(argv) {
  const files = [];
  let expectError = false;
  for (const arg of argv) {
    if (arg === '--expect-error') {
      expectError = true;
    } else if (arg.startsWith('--')) {
      throw new Error(`unknown option ${arg}`);
    } else {
      files.push({ path: arg, expectError });
      expectError = false;
    }
  }
  return files;
}

// Zod's union errors run to kilobytes; the first line names the problem.
const brief = (error) => `${error?.name}: ${String(error?.message).split('\n')[0].slice(0, 300)}`;

function bytesStream(bytes) {
  return new ReadableStream({
    start(controller) {
      controller.enqueue(bytes);
      controller.close();
    },
  });
}

async function checkFile({ path, expectError }) {
  const bytes = new Uint8Array(await readFile(path));
  const errorTexts = []; // in-band `error` chunks, in order
  const failures = [];
  let chunks = 0;
  let finishReason = null;

  const parsed = parseJsonEventStream({ stream: bytesStream(bytes), schema: uiMessageChunkSchema });
  const uiChunks = parsed.pipeThrough(
    new TransformStream({
      transform(result, controller) {
        if (!result.success) {
          failures.push(`parse: ${brief(result.error)}`);
          controller.error(result.error);
          return;
        }
        chunks += 1;
        if (result.value.type === 'error') errorTexts.push(result.value.errorText);
        if (result.value.type === 'finish') finishReason = result.value.finishReason ?? null;
        controller.enqueue(result.value);
      },
    }),
  );

  let inBandSeen = 0;
  const onError = (error) => {
    // An `error` chunk reaches onError as a plain Error carrying its errorText; anything
    // else (UIMessageStreamError for ordering, a parse error, a TypeError) is a failure.
    const isInBand =
      error instanceof Error &&
      error.name === 'Error' &&
      errorTexts.slice(inBandSeen).includes(error.message);
    if (isInBand) {
      inBandSeen += 1;
    } else if (!failures.some((f) => f.startsWith('parse:'))) {
      failures.push(`client: ${brief(error)}`);
    }
  };

  let message = null;
  try {
    for await (const snapshot of readUIMessageStream({ stream: uiChunks, onError })) {
      message = snapshot;
    }
  } catch (error) {
    failures.push(`read: ${brief(error)}`);
  }
  if (expectError && errorTexts.length === 0) failures.push('expected an in-band error chunk');

  const parts = message?.parts ?? [];
  const answer = parts.filter((p, i) => !(p.type === 'text' && parts[i + 1]?.type === 'data-interrupted'));
  return {
    file: path,
    ok: failures.length === 0,
    ...(failures.length ? { error: failures.join('; ') } : {}),
    chunks,
    errorChunks: errorTexts.length,
    finishReason,
    text: parts.filter((p) => p.type === 'text').map((p) => p.text).join(''),
    answerText: answer.filter((p) => p.type === 'text').map((p) => p.text).join(''),
    parts: parts.map((p) => (p.state ? `${p.type}:${p.state}` : p.type)),
  };
}

async function main() {
  let files;
  try {
    files = parseArgs(process.argv.slice(2));
  } catch (error) {
    console.error(error.message);
    process.exit(2);
  }
  if (files.length === 0) {
    console.error('usage: node check_stream.mjs [--expect-error] FILE ...');
    process.exit(2);
  }
  let allOk = true;
  for (const file of files) {
    const report = await checkFile(file);
    allOk &&= report.ok;
    process.stdout.write(`${JSON.stringify(report)}\n`);
  }
  process.exit(allOk ? 0 : 1);
}

await main();
