// What the page shows, built from text nodes only: no model or user text is ever parsed as HTML.

/** An element with attributes and children; strings become text nodes. */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== null && value !== undefined && value !== false) {
      node.setAttribute(name, value === true ? '' : String(value));
    }
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

const STATUS_LABELS = {
  in_progress: 'answering…', completed: 'completed', incomplete: 'cut short', cancelled: 'cancelled',
  failed: 'failed', interrupted: 'interrupted',
};
const COST = new Intl.NumberFormat('en', { style: 'currency', currency: 'USD', maximumSignificantDigits: 3 });
/** Items shown as calls: the client's own functions, and the MCP tools Talon runs. */
const CALLS = new Set(['function_call', 'mcp_call']);

/**
 * One turn: the user's message, then the answer as it streams (reasoning folded away apart from
 * it), which model answered, failover and compaction notices, usage and cost.
 */
export class TurnView {
  constructor(userText) {
    this.responseId = null;
    this.items = new Map(); // item id -> {element, text}: where its deltas go
    this.incomplete = [];
    this.model = el('span', { class: 'model' });
    this.status = el('span', { class: 'status' });
    this.notices = el('ul', { class: 'notices' });
    this.body = el('div', { class: 'items' });
    this.usage = el('div', { class: 'usage muted' });
    this.element = el('article', { class: 'turn' },
      el('div', { class: 'user' }, userText),
      el('div', { class: 'assistant' }, el('div', { class: 'meta' }, this.model, this.status),
        this.notices, this.body, this.usage));
    this.setStatus('in_progress');
  }

  get finished() {
    return this.element.dataset.status !== 'in_progress';
  }

  setStatus(status) {
    this.element.dataset.status = status;
    this.status.textContent = STATUS_LABELS[status] ?? status;
  }

  /** One event of a Responses stream. */
  on({ type, data }) {
    switch (type) {
      case 'response.created':
        this.responseId = data.response.id;
        this.showModel(data.response.model);
        break;
      case 'talon.compaction.started':
        this.notice('compaction', `Compacting: ${data.folded_turns} earlier turns (${data.tokens_before} tokens)`
          + ` go into a summary by ${data.model}…`);
        break;
      case 'talon.compaction.completed':
        this.notice('compaction', `Compacted: ${data.tokens_before} → ${data.tokens_after} tokens (${data.model}).`);
        break;
      case 'talon.approval_required':
        this.notice('approval', `${data.server_label}/${data.name} waits for a person's approval:`
          + ` POST ${data.approve_path}`);
        break;
      case 'response.output_item.added':
        if (data.item.type !== 'mcp_list_tools') { // the tools offered are not part of the answer
          this.addItem(data.item.id, data.item.type, '');
        }
        break;
      case 'response.output_text.delta':
      case 'response.reasoning_text.delta':
        this.items.get(data.item_id)?.text.appendData(data.delta);
        break;
      case 'response.output_item.done':
        this.itemDone(data.item);
        break;
      case 'response.completed':
      case 'response.incomplete':
        this.completed(data.response);
        break;
      case 'response.failed':
        this.failed(data.response);
        break;
      default: // the other events repeat what the ones above said; 'error' is followed by response.failed
    }
  }

  /** The stream ended without the turn's end: the answer is kept by the gateway all the same. */
  broken(message) {
    this.notice('error', `${message} The turn goes on in the gateway; reload to see its answer.`);
    this.setStatus('interrupted');
  }

  /** The request was refused before the turn began. */
  refused(message) {
    this.notice('error', message);
    this.setStatus('failed');
  }

  showModel(model) {
    this.model.textContent = model ?? '';
  }

  notice(kind, text) {
    this.notices.append(el('li', { class: `notice ${kind}` }, text));
  }

  /** Each switch to another model: live from the final response, read back from the attempts. */
  switches(list) {
    for (const { from, to, reason, discard_output: discard } of list) {
      this.notice('failover', `Failover: ${from} failed (${reason}); ${to} ${discard ? 'started over' : 'took over'}.`);
    }
  }

  addItem(id, type, content) {
    const text = document.createTextNode(content);
    const element = type === 'reasoning'
      ? el('details', { class: 'reasoning' }, el('summary', {}, 'Reasoning'), el('div', { class: 'text' }, text))
      : el('div', { class: CALLS.has(type) ? 'function-call' : 'answer' }, text);
    this.body.append(element);
    this.items.set(id, { element, text });
  }

  itemDone(item) {
    if (item.type === 'mcp_list_tools') {
      if (item.error) {
        this.notice('error', `MCP server ${item.server_label}: ${item.error}`);
      }
      return;
    }
    const shown = this.items.get(item.id);
    if (CALLS.has(item.type)) {
      shown.text.data = callText(item);
    }
    if (item.status === 'incomplete') {
      this.incomplete.push(shown.element);
    }
  }

  completed(response) {
    this.showModel(response.model);
    if (response.status === 'completed') {
      // an item cut off and still followed by a completed answer was given up by a failover that started over
      this.incomplete.forEach((element) => element.classList.add('discarded'));
    }
    this.switches(response.talon?.switches ?? []);
    this.showUsage(response.usage, response.talon?.cost_usd);
    this.setStatus(response.status);
  }

  failed(response) {
    if (response.status !== 'cancelled') {
      this.notice('error', response.error?.message ?? 'The turn failed.');
    }
    this.setStatus(response.status);
  }

  showUsage(usage, cost) {
    if (!usage) {
      return;
    }
    const reasoning = usage.output_tokens_details?.reasoning_tokens;
    this.usage.textContent = `${usage.input_tokens} tokens in · ${usage.output_tokens} out`
      + (reasoning ? ` (${reasoning} reasoning)` : '') + (cost == null ? '' : ` · ${COST.format(cost)}`);
  }
}

/** A turn of a transcript read back (GET /v1/conversations/{key}). */
export function storedTurn(turn) {
  const view = new TurnView(turn.input.map(inputText).join('\n'));
  view.responseId = turn.response_id;
  // a turn that did not complete names no model: the last one tried, or the one asked for
  view.showModel(turn.model ?? turn.attempts?.at(-1)?.model ?? turn.requested_model);
  view.switches(switchesOf(turn.attempts ?? []));
  if (turn.reasoning) {
    view.addItem(`${turn.response_id}-reasoning`, 'reasoning', turn.reasoning);
  }
  // a turn that did not complete keeps the MCP calls it made apart, in tool_calls
  [...(turn.output ?? []), ...(turn.tool_calls ?? [])].forEach((item, index) => view.addItem(
    `${turn.response_id}-${index}`, item.type, CALLS.has(item.type) ? callText(item) : item.content));
  view.showUsage(turn.usage, turn.cost_usd);
  const cancelled = turn.status === 'failed' && turn.error?.code === 'cancelled';
  if (turn.error && !cancelled) {
    view.notice('error', turn.error.message);
  }
  view.setStatus(cancelled ? 'cancelled' : turn.status);
  return view;
}

/**
 * A call as text: the client's function and its arguments; for an MCP tool Talon ran, also what
 * became of it (a live item's output or error, a transcript's output).
 */
function callText(item) {
  if (item.type !== 'mcp_call') {
    return `${item.name}(${item.arguments})`;
  }
  const outcome = item.output ?? item.error?.content?.[0]?.text;
  return `${item.server_label}/${item.name}(${item.arguments}) → ${item.status}${outcome ? `: ${outcome}` : ''}`;
}

/** What a transcript's input item said, as text. */
function inputText(item) {
  if (item.type !== 'message') {
    return `[${item.type}]`;
  }
  return typeof item.content === 'string' ? item.content
    : item.content.map((part) => (part.type === 'input_text' ? part.text : '[image]')).join(' ');
}

/** The switches between models that a stored turn's attempts tell. */
function switchesOf(attempts) {
  const switches = [];
  for (let i = 1; i < attempts.length; i++) {
    const [before, after] = [attempts[i - 1], attempts[i]];
    if (before.model !== after.model) {
      switches.push({ from: before.model, to: after.model, reason: [before.error, before.message].filter(Boolean).join(': ') });
    }
  }
  return switches;
}

/** The conversation list's entries. */
export function conversationEntry({ session_key: key, turn_count: turns, last_activity_at: at }, current) {
  return el('li', {},
    el('button', { type: 'button', class: 'conversation', 'data-key': key, 'aria-current': key === current ? 'true' : null },
      el('span', { class: 'key' }, key),
      el('span', { class: 'muted' }, `${turns} turn${turns === 1 ? '' : 's'} · ${new Date(at * 1000).toLocaleString()}`)));
}
