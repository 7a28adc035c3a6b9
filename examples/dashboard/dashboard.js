// sse-asgi dashboard: three EventSource streams and one fetch() stream. No framework, no build.
"use strict";

const $ = (id) => document.getElementById(id);

// -- connection state ---------------------------------------------------------------------

// The EventSource panels, for the summary in the page header.
const followed = [];

function updateSummary() {
  const open = followed.filter((f) => f.panel.dataset.state === "open").length;
  const reconnects = followed.reduce((sum, f) => sum + f.reconnects, 0);
  const summary = $("summary");
  summary.dataset.state = open === followed.length ? "open" : "reconnecting";
  summary.textContent = `${open}/${followed.length} streams open · ${reconnects} reconnects`;
}

function setState(panel, state, label) {
  panel.dataset.state = state;
  panel.querySelector("[data-role=state]").textContent = label || state;
}

// Open an EventSource for a panel and show its connection state from the
// `open` and `error` events: `error` with readyState CONNECTING means the
// browser is about to reconnect by itself (after the server's `retry` delay,
// sending Last-Event-ID); CLOSED means it gave up (an HTTP error status).
function follow(panelId, url, listeners) {
  const panel = $(panelId);
  const f = { panel, opens: 0, reconnects: 0, attempts: 0 };
  followed.push(f);
  setState(panel, "connecting");
  const es = new EventSource(url);
  es.addEventListener("open", () => {
    f.opens += 1;
    f.attempts = 0;
    if (f.opens > 1) {
      f.reconnects += 1;
      panel.dataset.reconnects = String(f.reconnects);
      panel.querySelector("[data-role=reconnects]").textContent =
        `${f.reconnects} reconnect${f.reconnects === 1 ? "" : "s"}`;
    }
    setState(panel, "open");
    updateSummary();
  });
  es.addEventListener("error", () => {
    if (es.readyState === EventSource.CLOSED) {
      setState(panel, "closed", "closed — reload the page");
    } else {
      f.attempts += 1;
      setState(panel, "reconnecting", f.attempts > 1 ? `reconnecting (try ${f.attempts})` : "reconnecting");
    }
    updateSummary();
  });
  const lastId = panel.querySelector("[data-role=last-id]");
  for (const [type, handle] of Object.entries(listeners)) {
    es.addEventListener(type, (event) => {
      handle(event);
      if (lastId && event.lastEventId) lastId.textContent = `· last id ${event.lastEventId}`;
    });
  }
  return es;
}

// -- background job -------------------------------------------------------------------------

let progressUpdates = 0;

follow("progress-panel", "/events/progress", {
  progress(event) {
    const p = JSON.parse(event.data);
    const bar = $("progress");
    progressUpdates += 1;
    bar.setAttribute("aria-valuenow", String(p.percent));
    bar.classList.toggle("done", p.percent === 100);
    $("progress-fill").style.width = `${p.percent}%`;
    $("progress-label").textContent = `${p.percent}%`;
    $("job-name").textContent = p.job ? `Job #${p.job}` : "Job —";
    $("job-status").textContent = p.status === "done" ? "done ✓ — next one starts soon" : p.status;
    $("jobs-done").textContent = String(p.status === "done" ? p.job : Math.max(0, p.job - 1));
    $("job-elapsed").textContent = `${p.elapsed.toFixed(1)} s`;
    $("progress-updates").textContent = String(progressUpdates);
    // What the browser dispatched, in wire form (the server's `retry:` line is
    // consumed by EventSource itself and never shows up as an event).
    $("progress-wire").textContent = `event: ${event.type}\ndata: ${event.data}`;
  },
});

// -- notifications ----------------------------------------------------------------------------

const MAX_NOTIFICATIONS = 50;

function addNotification(item, { id = "", fresh = true } = {}) {
  const list = $("notifications");
  const li = document.createElement("li");
  li.className = `level-${item.level}${fresh ? " new" : ""}`;
  li.dataset.id = id;
  const parts = [["when", item.at || ""], ["source", item.source || ""], ["text", item.text]];
  for (const [cls, text] of parts) {
    const span = document.createElement("span");
    span.className = cls;
    span.textContent = text; // never innerHTML: the text comes from any visitor
    li.append(span);
  }
  list.prepend(li); // newest first
  while (list.children.length > MAX_NOTIFICATIONS) list.lastElementChild.remove();
}

follow("notifications-panel", "/events/notifications", {
  notification(event) {
    addNotification(JSON.parse(event.data), { id: event.lastEventId });
  },
  // The server could not resume from our Last-Event-ID (it restarted, or we were
  // away longer than its history): what we show is stale, start over.
  reset(event) {
    $("notifications").replaceChildren();
    const reason = JSON.parse(event.data).reason;
    addNotification({ level: "note", text: `history reset (${reason}): showing what the server has now` });
  },
});

$("notify-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("notify-text");
  const error = $("notify-error");
  const button = $("notify-send");
  button.disabled = true;
  error.hidden = true;
  try {
    // The new notification is not added here: it comes back through the
    // stream, like everyone else's, so every open page shows the same list.
    const response = await fetch("/notifications", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ text: input.value }),
    });
    if (!response.ok) throw new Error((await response.json()).detail || response.statusText);
    input.value = "";
  } catch (exc) {
    error.textContent = `Not published: ${exc.message}`;
    error.hidden = false;
  } finally {
    button.disabled = false;
    input.focus();
  }
});

// -- log tail ---------------------------------------------------------------------------------

const MAX_LOG_RECORDS = 300;

follow("logs-panel", "/events/logs", {
  message(event) {
    const log = $("log");
    // Follow the tail only if the reader has not scrolled up.
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 30;
    const record = document.createElement("div");
    const level = (/^\S+ (\w+)/.exec(event.data) || [])[1] || "INFO";
    record.className = `record ${level}${event.data.includes("\n") ? " multi" : ""}`;
    record.dataset.id = event.lastEventId;
    record.textContent = event.data; // one event, its lines joined with \n by the browser
    log.append(record);
    while (log.children.length > MAX_LOG_RECORDS) log.firstElementChild.remove();
    if (atBottom) log.scrollTop = log.scrollHeight;
  },
  // Our Last-Event-ID is unknown to the server (it restarted): mark the break,
  // then the new run's tail follows.
  reset(event) {
    const marker = document.createElement("div");
    marker.className = "record reset";
    marker.textContent = `── history reset (${JSON.parse(event.data).reason}): the server restarted ──`;
    $("log").append(marker);
  },
});

// -- streamed answer --------------------------------------------------------------------------

// Server-Sent Events over fetch(): EventSource cannot POST a body. A minimal
// parser for the spec's framing: lines end with CRLF, LF or CR; a blank line
// dispatches; `:` lines are comments (the keep-alive pings).
async function* sseEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder("utf-8");
  let buffer = "";
  let type = "";
  let data = [];
  for (;;) {
    const { value, done } = await reader.read();
    buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
    for (;;) {
      const match = /\r\n|\r|\n/.exec(buffer);
      // A CR at the very end may be half of a CRLF: wait for the next chunk.
      if (!match || (!done && match[0] === "\r" && match.index === buffer.length - 1)) break;
      const line = buffer.slice(0, match.index);
      buffer = buffer.slice(match.index + match[0].length);
      if (line === "") {
        if (data.length) yield { event: type || "message", data: data.join("\n") };
        type = "";
        data = [];
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon === -1 ? line : line.slice(0, colon);
      let fieldValue = colon === -1 ? "" : line.slice(colon + 1);
      if (fieldValue.startsWith(" ")) fieldValue = fieldValue.slice(1);
      if (field === "event") type = fieldValue;
      else if (field === "data") data.push(fieldValue);
    }
    if (done) return;
  }
}

let asking = null; // the AbortController of the answer being streamed

async function ask(question) {
  const panel = $("answer-panel");
  const answer = $("answer");
  const stats = $("answer-stats");
  const controller = new AbortController();
  asking = controller;
  $("ask").disabled = true;
  $("stop").disabled = false;
  answer.textContent = "";
  stats.textContent = "";
  setState(panel, "connecting");
  const started = performance.now();
  let tokens = 0;
  let finished = false;
  const showStats = () => {
    stats.textContent = `${tokens} tokens · ${((performance.now() - started) / 1000).toFixed(1)} s`;
  };
  try {
    const response = await fetch("/answer", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify({ question }),
      signal: controller.signal,
    });
    if (!response.ok) throw new Error((await response.json()).detail || response.statusText);
    setState(panel, "streaming");
    for await (const event of sseEvents(response)) {
      if (event.event === "token") {
        answer.textContent += JSON.parse(event.data).token;
        tokens += 1;
        showStats();
      } else if (event.event === "done" && event.data === "[DONE]") {
        finished = true;
      }
    }
    // A fetch() stream does not reconnect by itself: a stream that ended
    // without [DONE] (the server dropped it) is shown as interrupted.
    setState(panel, finished ? "done" : "interrupted");
  } catch (exc) {
    if (controller.signal.aborted) {
      setState(panel, "stopped");
    } else {
      setState(panel, "error", `error: ${exc.message}`);
    }
  } finally {
    showStats();
    if (asking === controller) {
      asking = null;
      $("ask").disabled = false;
      $("stop").disabled = true;
    }
  }
}

$("ask-form").addEventListener("submit", (event) => {
  event.preventDefault();
  if (asking) asking.abort();
  ask($("question").value);
});

$("stop").addEventListener("click", () => {
  if (asking) asking.abort(); // the server sees the disconnect and closes its generator
});

// -- network drop -----------------------------------------------------------------------------

$("drop").addEventListener("click", async () => {
  // The server ends every open stream (close_all_streams); the EventSources
  // reconnect after the 1 s `retry` the server sent, with their Last-Event-ID.
  await fetch("/drop", { method: "POST" });
});

updateSummary();
ask($("question").value); // so the panel shows something from the start
