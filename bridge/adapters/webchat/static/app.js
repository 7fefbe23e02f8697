// The sandbox page: plain JS, no build step. Every value is shown with textContent,
// never as HTML. The server sends the state's version over server-sent events; on each
// new version (and after a reconnect) the page reads the whole state again.
"use strict";

const $ = (id) => document.getElementById(id);
let state = null;
const threadEls = new Map();

function me() { return $("me").value || "ana"; }
function customer() { return $("customer").value; }

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function renderRich(segments) {
  const out = document.createDocumentFragment();
  for (const s of segments || []) {
    let node;
    if (s.t === "strong") node = el("b", "", s.v);
    else if (s.t === "code") node = el("code", "", s.v);
    else if (s.t === "quote") node = el("blockquote", "", s.v);
    else if (s.t === "mention") node = el("span", "mention", s.v);
    else if (s.t === "link" && s.url) { node = el("a", "", s.v); node.href = s.url; node.target = "_blank"; node.rel = "noopener"; }
    else node = document.createTextNode(s.v);
    out.appendChild(node);
  }
  return out;
}

// Null when the sandbox could not be reached: the caller puts the text back, so a
// message typed while disconnected is not lost, and the header says what happened.
async function post(path, body) {
  let response;
  try {
    response = await fetch(path, {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
  } catch (err) {
    $("connection").textContent = "offline: not sent, the sandbox is not reachable; press Send again when it is back";
    $("connection").className = "connection";
    return null;
  }
  showLive();
  if (!response.ok) alert(await response.text());
  return response;
}

// Send a compose box's text; on a failed connection the text goes back into the box.
window.addEventListener("online", () => refresh());

async function sendFrom(input, path, body) {
  const text = body.text;
  input.value = "";
  if (await post(path, body) === null && !input.value) input.value = text;
}

function buttonsOf(message, threadId) {
  const row = el("div", "buttons");
  for (const b of message.buttons || []) {
    if (b.picker === "teammate") {
      const pick = el("select", "btn picker");
      pick.dataset.action = b.action;
      pick.appendChild(el("option", "", b.label));
      for (const t of state.teammates) { const o = el("option", "", t.name); o.value = t.id; pick.appendChild(o); }
      pick.onchange = () => { if (pick.value) post("/api/click", {user: me(), action: b.action, value: b.value, target: pick.value, thread: threadId}); };
      row.appendChild(pick);
    } else if (b.picker === "snippet") {
      const pick = el("select", "btn picker");
      pick.dataset.action = b.action;
      pick.appendChild(el("option", "", b.label));
      for (const c of b.choices || []) { const o = el("option", "", c); o.value = c; pick.appendChild(o); }
      pick.onchange = () => { if (pick.value) post("/api/click", {user: me(), action: b.action, value: b.value, choice: pick.value, thread: threadId}); };
      row.appendChild(pick);
    } else {
      const button = el("button", "btn" + (b.style ? " " + b.style : ""), b.label);
      button.dataset.action = b.action;
      button.onclick = () => {
        const body = {user: me(), action: b.action, value: b.value, thread: threadId};
        if (b.action === "edit") {
          const text = prompt("Text to the customer");
          if (text === null) return;
          body.text = text;
        }
        post("/api/click", body);
      };
      row.appendChild(button);
    }
  }
  return row;
}

function messageEl(m, threadId) {
  const node = el("div", "msg " + m.kind);
  node.dataset.kind = m.kind;
  if (m.kind !== "card") node.appendChild(el("span", "who", m.author));
  node.appendChild(renderRich(m.rich));
  if (m.for_user) node.appendChild(el("span", "only-you", "only visible to you"));
  for (const link of m.links || []) {
    const line = el("div", "links");
    line.appendChild(el("b", "", link.title + " "));
    line.appendChild(document.createTextNode(link.detail));
    if (link.button) line.appendChild(buttonsOf({buttons: [link.button]}, link.thread));
    node.appendChild(line);
  }
  if (m.footer) node.appendChild(renderRich(m.footer));
  if ((m.buttons || []).length) node.appendChild(buttonsOf(m, threadId));
  return node;
}

function cardEl(card, threadId) {
  const node = el("div", "card");
  node.appendChild(renderRich(card.rich));
  const f = card.facts || {};
  const facts = el("div", "facts");
  for (const [label, value] of [["Status", f.status], ["Assignee", f.assignee], ["Priority", f.priority], ["Inbox", f.inbox]]) {
    facts.appendChild(el("b", "", label + ": "));
    facts.appendChild(document.createTextNode(value + "  ·  "));
  }
  if (f.opted_out) facts.appendChild(el("b", "", "🚫 " + f.consent + " — replies are blocked"));
  else if (f.consent) facts.appendChild(document.createTextNode((f.consent.startsWith("No") ? "⚪ " : "✅ ") + f.consent));
  node.appendChild(facts);
  node.appendChild(buttonsOf(card, threadId));
  return node;
}

function threadEl(thread) {
  let node = threadEls.get(thread.id);
  if (!node) {
    node = el("div", "thread");
    node.dataset.thread = thread.id;
    node.append(el("div", "card-slot"), el("div", "msgs"));
    const form = el("form", "compose");
    const input = el("input");
    input.placeholder = "Note, !r reply, or a ! command (!help)";
    input.autocomplete = "off";
    form.append(input, el("button", "", "Send"));
    form.onsubmit = async (e) => {
      e.preventDefault();
      const text = input.value.trim();
      if (!text) return;
      await sendFrom(input, "/api/thread", {user: me(), thread: thread.id, text});
    };
    node.appendChild(form);
    threadEls.set(thread.id, node);
  }
  const [card, ...rest] = thread.messages;
  node.querySelector(".card-slot").replaceChildren(card ? cardEl(card, thread.id) : el("div"));
  node.querySelector(".msgs").replaceChildren(...rest.map((m) => messageEl(m, thread.id)));
  return node;
}

function renderPhone() {
  const texts = state.phones[customer()] || [];
  const box = $("sms");
  const nodes = [];
  for (const t of texts) {
    nodes.push(el("div", "bubble " + t.direction, t.body));
    if (t.direction === "out") {
      const bad = t.status === "undelivered" || t.status === "failed";
      nodes.push(el("div", "bubble-state" + (bad ? " failed" : ""), t.status + (t.error ? ": " + t.error : "")));
    }
  }
  if (!nodes.length) nodes.push(el("div", "empty", "No texts yet. Type one below: it reaches the team's channel."));
  box.replaceChildren(...nodes);
  box.scrollTop = box.scrollHeight;
  $("power").checked = !state.switched_off.includes(customer());
}

function render() {
  $("inbox-number").textContent = state.inbox_number;
  const threads = state.threads.map(threadEl);
  const box = $("threads");
  // Threads are kept nodes: put back in the DOM only when their order changed, and the
  // box someone is typing in keeps its focus and cursor, so an update arriving while a
  // teammate types loses none of their keystrokes.
  if (threads.length !== box.children.length || threads.some((node, i) => box.children[i] !== node)) {
    const active = document.activeElement;
    const [start, end] = [active && active.selectionStart, active && active.selectionEnd];
    box.replaceChildren(...(threads.length ? threads : [el("div", "empty", "Conversations appear here, one thread each, when a customer texts.")]));
    if (active && active !== document.body && document.activeElement !== active && box.contains(active)) {
      active.focus();
      if (start !== null && start !== undefined) active.setSelectionRange(start, end);
    }
  }
  $("channel-log").replaceChildren(...state.channel.map((m) => messageEl(m, null)));
  $("channel-log").scrollTop = $("channel-log").scrollHeight;
  renderPhone();
}

// One read at a time, and again if a change arrived meanwhile: answers can never be
// applied out of order, and the last read always follows the last change.
let reading = false;
let readAgain = false;
async function refresh() {
  if (reading) { readAgain = true; return; }
  reading = true;
  try {
    do {
      readAgain = false;
      const response = await fetch("/api/state?user=" + encodeURIComponent(me()));
      show(await response.json());
    } while (readAgain);
    showLive();
  } catch (err) {
    // Read again shortly: a page whose reads failed catches up by itself once the
    // sandbox is reachable, even if no new event arrives.
    $("connection").textContent = "offline: the sandbox is not reachable; retrying… (" + err.message + ")";
    $("connection").className = "connection";
    if (!retrying) retrying = setTimeout(() => { retrying = null; refresh(); }, 2000);
  } finally {
    reading = false;
  }
}
let retrying = null;

function showLive() {
  if (events && events.readyState === EventSource.OPEN) { $("connection").textContent = "live"; $("connection").className = "connection live"; }
}

function show(data) {
  state = data;
  if ($("customer").options.length === 0) {
    for (const n of state.customers) { const o = el("option", "", n); o.value = n; $("customer").appendChild(o); }
    for (const t of state.teammates) { const o = el("option", "", t.name + (t.id === "ana" ? " (admin)" : " (agent)")); o.value = t.id; $("me").appendChild(o); }
    // A reload keeps who you are and which phone you hold.
    if (localStorage.getItem("customer")) $("customer").value = localStorage.getItem("customer");
    if (localStorage.getItem("me")) { $("me").value = localStorage.getItem("me"); refresh(); }  // read again as them
  }
  render();
}

let events = null;
function listen() {
  events = new EventSource("/api/events");
  events.onopen = showLive;
  events.onmessage = () => refresh();
  events.onerror = () => { $("connection").textContent = "disconnected: reconnecting… (nothing is lost; the page catches up when it is back)"; $("connection").className = "connection"; };
}

$("sms-form").onsubmit = async (e) => {
  e.preventDefault();
  const text = $("sms-text").value.trim();
  if (!text) return;
  await sendFrom($("sms-text"), "/api/phone", {from: customer(), text});
};
$("channel-form").onsubmit = async (e) => {
  e.preventDefault();
  const text = $("channel-text").value.trim();
  if (!text) return;
  await sendFrom($("channel-text"), "/api/channel", {user: me(), text: text.startsWith("/sms") ? text : "/sms " + text});
};
$("customer").onchange = () => { localStorage.setItem("customer", customer()); renderPhone(); };
$("me").onchange = () => { localStorage.setItem("me", me()); refresh(); };
$("power").onchange = () => post("/api/phone/power", {number: customer(), on: $("power").checked});

refresh().then(listen);
