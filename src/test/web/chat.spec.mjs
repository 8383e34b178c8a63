// The chat page end to end, in Debian's headless Chromium driven by playwright-core, against a
// Talon node that WebPageTest started on a loopback port with the fake upstream.
//
//   node chat.spec.mjs <baseUrl> <screenshot.png> [token]
//
// Without a token (a node without one): a streamed answer shows before the turn ends, a failover
// is shown, Stop cancels a running turn, and a reload shows the history again. With the node's
// token: the page asks for it, asks again after a wrong one, then works and keeps it for a reload.
// The fake upstream picks its answer by the marker in the newest message (see WebPageTest).
// Every wait is a condition with a bounded timeout. Prints what it saw as one line,
// `RESULT {...}`, for WebPageTest to check against what the fake was told to answer, and exits
// non-zero at the first check that fails.

import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [baseUrl, screenshot, token] = process.argv.slice(2);
if (!baseUrl || !screenshot) {
  console.error('usage: node chat.spec.mjs <baseUrl> <screenshot.png> [token]');
  process.exit(2);
}
/** How long any one condition may take to come true. */
const WAIT = 20_000;
const MESSAGES = {
  slow: '[slow] Tell me a story, slowly.',
  long: '[long] Count for a long while.',
  fail: '[fail] Is anyone there?',
};

function check(condition, what) {
  if (!condition) {
    throw new Error(`check failed: ${what}`);
  }
  console.log(`ok - ${what}`);
}

/** The last turn on the page, as the user sees it. */
function lastTurn(page) {
  return page.evaluate(() => {
    const turn = [...document.querySelectorAll('.turn')].at(-1);
    return turn && {
      status: turn.dataset.status,
      answer: [...turn.querySelectorAll('.answer')].map((answer) => answer.textContent).join(''),
      reasoning: [...turn.querySelectorAll('details.reasoning')].map((details) => ({
        open: details.open, text: details.querySelector('.text').textContent })),
      model: turn.querySelector('.model').textContent,
      notices: [...turn.querySelectorAll('.notice')].map((notice) => `${notice.className}: ${notice.textContent}`),
      usage: turn.querySelector('.usage').textContent,
    };
  });
}

/** Waits until the last turn has this status, with Stop disabled again; returns the turn. */
async function settled(page, status) {
  await page.waitForFunction((expected) => {
    const turn = [...document.querySelectorAll('.turn')].at(-1);
    return turn?.dataset.status === expected && document.getElementById('stop').disabled
      && !document.getElementById('send').disabled;
  }, status, { timeout: WAIT });
  return lastTurn(page);
}

async function send(page, text) {
  await page.fill('#message', text);
  await page.click('#send');
}

/** Waits for answer text while the turn still runs and Stop can stop it; returns that text. */
async function partialAnswer(page) {
  const handle = await page.waitForFunction(() => {
    const turn = [...document.querySelectorAll('.turn')].at(-1);
    const text = [...(turn?.querySelectorAll('.answer') ?? [])].map((answer) => answer.textContent).join('');
    return turn?.dataset.status === 'in_progress' && !document.getElementById('stop').disabled && text.length > 0
      && text;
  }, null, { timeout: WAIT });
  return handle.jsonValue();
}

async function turnsShown(page, count) {
  await page.waitForFunction((n) => document.querySelectorAll('.turn').length === n
    && [...document.querySelectorAll('.turn')].every((turn) => turn.dataset.status !== 'in_progress'),
  count, { timeout: WAIT });
  return page.evaluate(() => [...document.querySelectorAll('.turn')].map((turn) => ({
    user: turn.querySelector('.user').textContent,
    status: turn.dataset.status,
    answer: [...turn.querySelectorAll('.answer')].map((answer) => answer.textContent).join(''),
    model: turn.querySelector('.model').textContent,
    notices: [...turn.querySelectorAll('.notice')].map((notice) => `${notice.className}: ${notice.textContent}`),
  })));
}

async function withoutToken(page) {
  const result = {};
  await page.goto(`${baseUrl}/`);
  await page.waitForFunction(() => document.getElementById('title').textContent.startsWith('web-'), null,
    { timeout: WAIT });
  const key = await page.textContent('#title');
  result.key = key;
  await page.waitForSelector('#list-status:has-text("No conversations yet.")', { timeout: WAIT });
  check(true, `a new conversation ${key} opens on an empty list`);

  await send(page, MESSAGES.slow);
  result.partial = await partialAnswer(page);
  const slow = await settled(page, 'completed');
  result.streamed = slow.answer;
  result.reasoning = slow.reasoning;
  result.slowModel = slow.model;
  result.usage = slow.usage;
  check(result.partial.length < slow.answer.length && slow.answer.startsWith(result.partial),
    `text showed while the turn ran ("${result.partial}"), before the whole answer`);
  check(slow.reasoning.length === 1 && !slow.reasoning[0].open, 'the reasoning is shown apart, folded');
  check(await page.evaluate(() => document.querySelector('#turns b') === null), 'markup in an answer shows as text');
  await page.waitForSelector(`button.conversation[data-key="${key}"][aria-current="true"]:has-text("1 turn")`,
    { timeout: WAIT });
  check(true, 'the conversation is listed, with its turn count');

  await send(page, MESSAGES.long);
  result.beforeStop = await partialAnswer(page);
  await page.click('#stop');
  const cancelled = await settled(page, 'cancelled');
  result.cancelledStatus = (await page.textContent('.turn:last-of-type .status'));
  check(cancelled.answer.length > 0, 'Stop ended the running turn, which shows as cancelled');

  await send(page, MESSAGES.fail);
  const failover = await settled(page, 'completed');
  result.failoverModel = failover.model;
  result.failoverNotices = failover.notices;
  result.failoverAnswer = failover.answer;
  check(failover.notices.some((notice) => notice.includes('failover')), 'the failover is shown');

  const before = await turnsShown(page, 3);
  await page.reload();
  result.reloaded = await turnsShown(page, 3);
  // a cancelled turn's partial answer is not kept: only completed answers come back
  const kept = (turns) => JSON.stringify(turns.map((turn) => [turn.user, turn.status,
    turn.status === 'completed' ? turn.answer : '']));
  check(kept(result.reloaded) === kept(before), 'a reload shows the same turns, statuses and answers');
  check(await page.textContent('#title') === key, 'a reload keeps the conversation open');
  check(!(await page.evaluate(() => document.getElementById('token-dialog').open)), 'no token was asked for');
  return result;
}

async function withToken(page) {
  const result = {};
  await page.goto(`${baseUrl}/`);
  await page.waitForSelector('#token-dialog[open]', { timeout: WAIT });
  result.firstAsk = await page.textContent('#token-reason');
  await page.fill('#token', 'not-the-token');
  await page.click('#token-form button[type="submit"]');
  await page.waitForFunction(() => document.getElementById('token-dialog').open
    && document.getElementById('token-reason').textContent.includes('refused'), null, { timeout: WAIT });
  result.secondAsk = await page.textContent('#token-reason');
  check(true, 'a wrong token is asked for again');
  await page.fill('#token', token);
  await page.click('#token-form button[type="submit"]');
  await page.waitForFunction(() => !document.getElementById('token-dialog').open
    && document.querySelectorAll('button.conversation').length > 0, null, { timeout: WAIT });
  result.listed = await page.$$eval('button.conversation', (entries) => entries.map((entry) => entry.dataset.key));
  check(true, 'with the token the conversations are listed');

  await page.click('button.conversation');
  result.earlier = await turnsShown(page, 3);
  check(true, 'the conversation from before the restart shows its turns');

  await page.click('#new-conversation');
  await turnsShown(page, 0);
  await send(page, MESSAGES.slow);
  result.streamed = (await settled(page, 'completed')).answer;
  await page.reload();
  await turnsShown(page, 1);
  check(!(await page.evaluate(() => document.getElementById('token-dialog').open)),
    'the token is kept for the session: a reload does not ask again');
  result.stored = await page.evaluate(() => sessionStorage.getItem('talon.gatewayToken'));
  return result;
}

const profile = mkdtempSync(join(tmpdir(), 'talon-chromium-'));
let context;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    // no background connections: this machine's closed network refuses them, many at a time
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1100, height: 800 },
  });
  const page = context.pages()[0] ?? await context.newPage();
  const problems = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => message.type() === 'error' && problems.push(`console: ${message.text()}`));
  const result = token ? await withToken(page) : await withoutToken(page);
  await page.screenshot({ path: screenshot, fullPage: true });
  // Chromium logs every 4xx as "Failed to load resource" (a 401 asks for the token, a 404 is a
  // conversation still to begin); anything else the page complained about is a failure
  result.problems = problems.filter((problem) => !problem.includes('Failed to load resource'));
  check(result.problems.length === 0, `no script errors (${result.problems.join('; ')})`);
  console.log(`RESULT ${JSON.stringify(result)}`);
} catch (error) {
  console.error(error.stack ?? String(error));
  process.exitCode = 1;
} finally {
  await context?.close();
  rmSync(profile, { recursive: true, force: true });
}
