// Talon's public API as the chat page uses it: the same calls, headers and token as any client.

const TOKEN_KEY = 'talon.gatewayToken';
const SESSION_HEADER = 'x-talon-session-key';

/** An answer other than 2xx, with the API's error object when it sent one. */
export class ApiFailure extends Error {
  constructor(status, error) {
    super(error?.message ?? `The gateway answered ${status}.`);
    this.status = status;
    this.code = error?.code ?? null;
  }
}

export class Api {
  /**
   * @param askToken (reason) => Promise of the token the user typed; called when the gateway
   *     answers 401, and the request is then sent again with it
   */
  constructor(askToken) {
    this.askToken = askToken;
    this.asking = null;
  }

  /** fetch() with the bearer token; a 401 asks for the token (once for all waiting calls) and tries again. */
  async fetch(path, init = {}) {
    for (;;) {
      const token = sessionStorage.getItem(TOKEN_KEY);
      const headers = new Headers(init.headers);
      if (token !== null) {
        headers.set('Authorization', `Bearer ${token}`);
      }
      const response = await fetch(path, { ...init, headers });
      if (response.status !== 401) {
        return response;
      }
      await response.body?.cancel();
      if (sessionStorage.getItem(TOKEN_KEY) !== token) {
        continue; // another call was given a new token meanwhile
      }
      this.asking ??= this.askToken(token === null ? 'This gateway needs its token.'
        : 'The gateway refused that token; enter it again.').finally(() => { this.asking = null; });
      sessionStorage.setItem(TOKEN_KEY, await this.asking);
    }
  }

  /** The JSON body of a 2xx answer; otherwise an ApiFailure. */
  async json(path, init) {
    return body(await this.fetch(path, init));
  }

  /** POST with a JSON body (the gateway takes nothing else). */
  post(path, value, sessionKey) {
    const headers = { 'Content-Type': 'application/json' };
    if (sessionKey) {
      headers[SESSION_HEADER] = sessionKey;
    }
    return this.fetch(path, { method: 'POST', headers, body: JSON.stringify(value) });
  }

  conversations(after, limit) {
    return this.json(`/v1/conversations?${query({ after, limit })}`);
  }

  transcript(key, after, limit) {
    return this.json(`/v1/conversations/${encodeURIComponent(key)}?${query({ after, limit })}`);
  }

  /** A streamed turn of the conversation `key`: its events, as they come. */
  async *respond(key, text) {
    const response = await this.post('/v1/responses', {
      input: text, stream: true,
      reasoning: { summary: 'auto' }, // reasoning is sent only to clients that ask
    }, key);
    yield* events(response);
  }

  /** A stored response's events again, then live while it runs. */
  async *follow(responseId) {
    yield* events(await this.fetch(`/v1/responses/${encodeURIComponent(responseId)}?stream=true`));
  }

  async cancel(responseId) {
    return body(await this.post(`/v1/responses/${encodeURIComponent(responseId)}/cancel`, {}));
  }
}

async function body(response) {
  const value = await response.json().catch(() => null);
  if (!response.ok) {
    throw new ApiFailure(response.status, value?.error);
  }
  return value;
}

function query(params) {
  return new URLSearchParams(Object.entries(params).filter(([, value]) => value !== undefined && value !== null))
    .toString();
}

async function* events(response) {
  if (!response.ok) {
    await body(response); // throws with the API's error
  }
  yield* serverSentEvents(response.body);
}

/** Server-sent events from a response body: {type, data} with the data parsed (Talon sends JSON). */
export async function* serverSentEvents(stream) {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) {
      return;
    }
    buffer += value;
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let type = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') {
          type = text;
        } else if (field === 'data') {
          data.push(text);
        } // a line starting with ':' is a keep-alive comment
      }
      if (data.length > 0) {
        yield { type, data: JSON.parse(data.join('\n')) };
      }
    }
  }
}
