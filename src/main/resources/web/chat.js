// The chat page: the conversations on the left, the open one's turns, a composer with Send and Stop.
// The open conversation's session key is the page's fragment (#key), so a reload shows it again.

import { Api, ApiFailure } from './api.js';
import { TurnView, conversationEntry, storedTurn } from './render.js';

/** Turns shown at first and per "Earlier turns"; conversations per page of the list. */
const TURN_PAGE = 50;
const LIST_PAGE = 30;

const $ = (id) => document.getElementById(id);

class ChatPage {
  constructor() {
    this.api = new Api((reason) => this.askToken(reason));
    this.key = null;
    this.firstShown = 1; // the number of the first turn on the page
    this.running = null; // {view, stopAsked}: the turn being streamed, if any
    this.listAfter = null;
  }

  start() {
    $('composer').addEventListener('submit', (event) => {
      event.preventDefault();
      this.send();
    });
    $('message').addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.send();
      }
    });
    $('stop').addEventListener('click', () => this.stop());
    $('new-conversation').addEventListener('click', () => this.open(newKey(), true));
    $('more-conversations').addEventListener('click', () => this.loadList(this.listAfter));
    $('earlier').addEventListener('click', () => this.loadEarlier());
    $('conversations').addEventListener('click', (event) => {
      const entry = event.target.closest('button.conversation');
      if (entry) {
        this.open(entry.dataset.key);
      }
    });
    $('token-form').addEventListener('submit', (event) => {
      event.preventDefault();
      $('token-dialog').close($('token').value);
    });
    window.addEventListener('hashchange', () => {
      const key = keyFromHash();
      if (key !== null && key !== this.key) {
        this.open(key);
      }
    });
    const key = keyFromHash();
    this.open(key ?? newKey(), key === null);
    this.loadList(null);
  }

  /**
   * Shows the conversation `key`: its latest turns, and follows one that still runs.
   *
   * @param fresh a key just made up, which no conversation has yet
   */
  async open(key, fresh = false) {
    this.key = key;
    history.replaceState(null, '', `#${encodeURIComponent(key)}`);
    $('title').textContent = key;
    $('context').textContent = '';
    $('turns').replaceChildren();
    $('earlier').hidden = true;
    for (const entry of document.querySelectorAll('button.conversation')) {
      if (entry.dataset.key === key) {
        entry.setAttribute('aria-current', 'true');
      } else {
        entry.removeAttribute('aria-current');
      }
    }
    if (fresh) {
      return;
    }
    try {
      let page = await this.api.transcript(key, 0, TURN_PAGE);
      if (page.has_more) {
        page = await this.api.transcript(key, page.turn_count - TURN_PAGE, TURN_PAGE);
      }
      if (this.key === key) {
        this.showContext(page.context);
        this.firstShown = page.turns[0]?.number ?? 1;
        this.showTurns(page.turns, 'append');
      }
    } catch (failure) {
      // an unknown key is a conversation still to begin: its first turn makes it
      if (this.key === key && failure.code !== 'conversation_not_found') {
        $('context').textContent = failure.message;
      }
    }
  }

  showContext(context) {
    $('context').textContent = `${context.tokens} of ${context.budget_tokens} tokens for ${context.model}`
      + (context.compactions > 0 ? ` · ${context.compactions} compaction${context.compactions === 1 ? '' : 's'}` : '');
  }

  showTurns(turns, placement) {
    const views = turns.map(storedTurn);
    const elements = views.map((view) => view.element);
    if (placement === 'before') {
      $('turns').prepend(...elements);
    } else {
      $('turns').append(...elements);
      scrollToEnd();
    }
    $('earlier').hidden = this.firstShown <= 1;
    const last = views.at(-1);
    if (placement === 'append' && last && !last.finished && this.running === null) {
      this.run(last, () => this.api.follow(last.responseId));
    }
  }

  async loadEarlier() {
    const key = this.key;
    const before = this.firstShown - 1;
    const after = Math.max(0, before - TURN_PAGE);
    let page;
    try {
      page = await this.api.transcript(key, after, before - after);
    } catch (failure) {
      $('context').textContent = failure.message;
      return;
    }
    if (this.key === key) {
      const transcript = $('transcript');
      const height = transcript.scrollHeight;
      this.firstShown = after + 1;
      this.showTurns(page.turns, 'before');
      transcript.scrollTop += transcript.scrollHeight - height; // the turns read stay where they were
    }
  }

  send() {
    const text = $('message').value;
    if (this.running !== null || text.trim() === '') {
      return;
    }
    $('message').value = '';
    const view = new TurnView(text);
    $('turns').append(view.element);
    scrollToEnd();
    const key = this.key;
    this.run(view, () => this.api.respond(key, text));
  }

  /** Streams a turn's events into its view; Stop works until the turn ends. */
  async run(view, events) {
    this.running = { view, stopAsked: false };
    $('send').disabled = true;
    $('stop').disabled = false;
    try {
      for await (const event of events()) {
        const following = nearEnd();
        view.on(event);
        if (event.type === 'response.created' && this.running.stopAsked) {
          this.cancel(view);
        }
        if (following) {
          scrollToEnd();
        }
      }
      if (!view.finished) {
        view.broken('The stream ended early.');
      }
    } catch (failure) {
      if (failure instanceof ApiFailure) {
        view.refused(failure.message);
      } else {
        view.broken(`The connection broke (${failure.message}).`);
      }
    } finally {
      this.running = null;
      $('send').disabled = false;
      $('stop').disabled = true;
      this.loadList(null);
    }
  }

  /** Cancels the running turn; before its id is known (no output yet), as soon as it is. */
  stop() {
    if (this.running === null) {
      return;
    }
    $('stop').disabled = true;
    if (this.running.view.responseId === null) {
      this.running.stopAsked = true;
    } else {
      this.cancel(this.running.view);
    }
  }

  async cancel(view) {
    try {
      await this.api.cancel(view.responseId);
    } catch (failure) {
      if (failure.code !== 'response_not_running') { // it ended meanwhile
        view.notice('error', `Stop failed: ${failure.message}`);
      }
    }
  }

  async loadList(after) {
    try {
      const page = await this.api.conversations(after, LIST_PAGE);
      const entries = page.data.map((conversation) => conversationEntry(conversation, this.key));
      if (after === null) {
        $('conversations').replaceChildren(...entries);
      } else {
        $('conversations').append(...entries);
      }
      this.listAfter = page.next_after;
      $('more-conversations').hidden = !page.has_more;
      $('list-status').textContent = after === null && entries.length === 0 ? 'No conversations yet.' : '';
    } catch (failure) {
      $('list-status').textContent = failure.message;
    }
  }

  /** Asks for the gateway token in a dialog; closing it without one fails the call that needed it. */
  askToken(reason) {
    const dialog = $('token-dialog');
    $('token-reason').textContent = reason;
    $('token').value = '';
    dialog.returnValue = '';
    dialog.showModal();
    return new Promise((resolve, reject) => dialog.addEventListener('close', () => {
      if (dialog.returnValue) {
        resolve(dialog.returnValue);
      } else {
        reject(new ApiFailure(401, { message: 'The gateway needs its token.' }));
      }
    }, { once: true }));
  }
}

/** A new session key: web-<UTC date>-<time>-<random>, e.g. web-20261201-053000-4f2a9c. */
function newKey() {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const random = Array.from(crypto.getRandomValues(new Uint8Array(3)), (b) => b.toString(16).padStart(2, '0'));
  return `web-${stamp}-${random.join('')}`;
}

function keyFromHash() {
  try {
    return decodeURIComponent(location.hash.slice(1)) || null;
  } catch {
    return null; // not a key this page wrote
  }
}

function nearEnd() {
  const transcript = $('transcript');
  return transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 40;
}

function scrollToEnd() {
  const transcript = $('transcript');
  transcript.scrollTop = transcript.scrollHeight;
}

new ChatPage().start();
