// The chat page: sends a question, reads the streamed answer (Server-Sent Events over fetch),
// renders Markdown safely (marked + DOMPurify), and never loses what the person typed.
(() => {
  "use strict";

function start() {
  const root = document.getElementById("chat");
  if (!root || root.dataset.started) return;
  root.dataset.started = "1";
  const strings = JSON.parse(document.getElementById("chat-strings").textContent);
  const csrf = root.dataset.csrf;
  const messages = document.getElementById("messages");
  const composer = document.getElementById("composer");
  const textarea = document.getElementById("content");
  const sendButton = document.getElementById("send");
  const stopButton = document.getElementById("stop");
  const live = document.getElementById("live");
  const webSwitch = document.getElementById("web-search");
  const errorBox = document.getElementById("chat-error");
  const errorText = document.getElementById("chat-error-text");
  const retryButton = document.getElementById("chat-retry");
  const modelSelect = document.getElementById("model");
  const modelDescription = document.getElementById("model-description");
  const temporaryBox = document.getElementById("temporary");
  const temporaryBanner = document.getElementById("temporary-banner");
  const title = document.getElementById("chat-title");

  let conversationId = root.dataset.conversationId || null;
  let temporary = false;
  let history = []; // temporary conversations only: held in this page, nowhere else
  let controller = null;
  let lastRequest = null;
  // Stop pressed before the server named the conversation: honoured once it has, so that
  // the question is stored and answered "stopped" (with a retry), never lost half-way.
  let stopWanted = false;
  let streamReady = false;
  let following = true; // the page keeps the latest words in view unless the reader scrolls up
  const jumpButton = document.getElementById("jump-latest");

  // -- Markdown -------------------------------------------------------------------------

  function renderMarkdown(element, text) {
    const html = window.marked ? window.marked.parse(text, { gfm: true, breaks: false }) : null;
    if (html !== null && window.DOMPurify) {
      element.innerHTML = window.DOMPurify.sanitize(html, { FORBID_TAGS: ["style", "img"], FORBID_ATTR: ["style"] });
    } else {
      element.textContent = text;
    }
    decorate(element);
  }

  function decorate(element) {
    element.querySelectorAll("a[href]").forEach((link) => {
      link.setAttribute("rel", "noopener noreferrer nofollow");
      link.setAttribute("target", "_blank");
    });
    element.querySelectorAll("pre > code").forEach((code) => {
      if (window.hljs && !code.dataset.highlighted) window.hljs.highlightElement(code);
      // A long line scrolls sideways in the block: it takes the keyboard's focus, so that
      // the arrow keys can scroll it too (WCAG 2.1.1).
      code.tabIndex = 0;
      const pre = code.parentElement;
      if (pre.querySelector(".copy-code")) return;
      const button = document.createElement("button");
      button.type = "button";
      button.className = "copy-code";
      button.textContent = strings.copyCode;
      button.addEventListener("click", () => copyText(code.textContent, button));
      pre.appendChild(button);
    });
  }

  async function copyText(text, button) {
    const original = button.textContent;
    try {
      await navigator.clipboard.writeText(text);
      button.textContent = strings.copied;
    } catch {
      button.textContent = original;
    }
    setTimeout(() => { button.textContent = original; }, 2000);
  }

  // -- Building messages ------------------------------------------------------------------

  function nextPosition() {
    const all = messages.querySelectorAll("article.message");
    if (!all.length) return 0;
    return Number(all[all.length - 1].dataset.position) + 1;
  }

  function article(role, position) {
    const node = document.createElement("article");
    node.className = `message message-${role}`;
    node.dataset.role = role;
    node.dataset.position = String(position);
    const heading = document.createElement("h2");
    heading.className = "message-author";
    heading.textContent = role === "user" ? strings.you : strings.assistant;
    const body = document.createElement("div");
    body.className = role === "user" ? "message-body user-text" : "message-body markdown";
    node.append(heading, body);
    return node;
  }

  function actions(node) {
    const bar = document.createElement("div");
    bar.className = "message-actions";
    const buttons = node.dataset.role === "user" ? [["edit", strings.edit]] : [["copy", strings.copy], ["regenerate", strings.regenerate]];
    for (const [action, label] of buttons) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "link-button";
      button.dataset.action = action;
      button.textContent = label;
      bar.appendChild(button);
    }
    node.appendChild(bar);
  }

  function removeFrom(node) {
    while (node) {
      const next = node.nextElementSibling;
      if (node.matches("article.message")) node.remove();
      node = next;
    }
  }

  function clearEmptyState() {
    document.getElementById("empty-chat")?.remove();
  }

  // -- Errors -----------------------------------------------------------------------------

  function showError(message, retry) {
    errorText.textContent = message;
    errorBox.hidden = false;
    retryButton.hidden = !retry;
    retryButton.onclick = retry || null;
  }

  function hideError() {
    errorBox.hidden = true;
  }

  // -- Sending ------------------------------------------------------------------------------

  function setBusy(busy) {
    sendButton.disabled = busy;
    stopButton.hidden = !busy;
    if (temporaryBox) temporaryBox.disabled = busy || Boolean(conversationId) || history.length > 0;
    if (busy) stopButton.focus();
  }

  function draftKey() {
    return `autan-draft:${conversationId || "new"}`;
  }

  function saveDraft() {
    if (temporary) return;
    try { sessionStorage.setItem(draftKey(), textarea.value); } catch { /* private mode */ }
  }

  function restoreDraft() {
    try {
      const saved = sessionStorage.getItem(draftKey());
      if (saved && !textarea.value) textarea.value = saved;
    } catch { /* private mode */ }
  }

  function forgetDraft() {
    try { sessionStorage.removeItem(draftKey()); } catch { /* private mode */ }
  }

  async function send(request, { userNode = null, typed = "" } = {}) {
    hideError();
    lastRequest = request;
    // A pair asked from the composer (arena-chat.js) may have opened the conversation.
    if (!temporary && root.dataset.conversationId) conversationId = root.dataset.conversationId;
    const body = {
      ...request,
      model: modelSelect ? modelSelect.value : null,
      conversation_id: conversationId,
      assistant_id: !conversationId && document.getElementById("assistant") ? document.getElementById("assistant").value || null : null,
      temporary,
      history: temporary ? history : [],
      web_search: webSwitch ? webSwitch.checked : null,
    };
    controller = new AbortController();
    stopWanted = false;
    streamReady = false;
    following = true;
    setBusy(true);
    let response;
    try {
      response = await fetch("/chat/turn", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, Accept: "text/event-stream" },
        body: JSON.stringify(body),
        signal: controller.signal,
      });
    } catch (error) {
      setBusy(false);
      refused(userNode, typed, error.name === "AbortError" ? null : strings.networkLost, request);
      return;
    }
    const type = response.headers.get("content-type") || "";
    if (!response.ok || !type.startsWith("text/event-stream")) {
      let message = strings.serverError;
      try { message = (await response.json()).error.message || message; } catch { /* not JSON */ }
      if (response.status === 401) message = strings.serverError;
      setBusy(false);
      refused(userNode, typed, message, request);
      return;
    }
    forgetDraft();
    // Accepted: a temporary question now belongs to the conversation this page holds.
    if (temporary && request.action === "send") history.push({ role: "user", content: request.content });
    await readAnswer(response, request);
  }

  // The question was not taken: put it back where it was written.
  function refused(userNode, typed, message, request) {
    if (userNode) userNode.remove();
    if (typed && !textarea.value) textarea.value = typed;
    if (message) showError(message, () => resend(request));
    textarea.focus();
  }

  function resend(request) {
    if (request.action === "send") {
      submitQuestion();
    } else {
      send(request);
    }
  }

  async function readAnswer(response, request) {
    clearEmptyState();
    const node = article("assistant", nextPosition());
    const body = node.querySelector(".message-body");
    node.setAttribute("aria-busy", "true");
    messages.appendChild(node);
    live.textContent = strings.writing;
    keepInView();
    if (temporary) {
      // No conversation to wait for: a Stop pressed meanwhile takes effect now.
      streamReady = true;
      if (stopWanted) controller.abort();
    }
    let text = "";
    let pending = false;
    let ended = false;
    const paint = () => {
      pending = false;
      renderMarkdown(body, text);
      linkCitations(node);
      keepInView();
    };
    const ownController = controller;
    const handle = (name, data) => {
      if (name === "conversation") {
        const isNew = conversationId !== data.id;
        conversationId = data.id;
        root.dataset.conversationId = data.id;
        if (isNew) {
          window.history.replaceState({}, "", `/c/${data.id}`);
          addToSidebar(data.id, data.title || strings.newConversation);
        }
        if (data.title) setTitle(data.id, data.title);
        streamReady = true;
        if (stopWanted) controller.abort();
      } else if (name === "delta") {
        text += data.text;
        if (!pending) { pending = true; requestAnimationFrame(paint); }
      } else if (name === "done") {
        ended = true;
        node.dataset.id = data.message_id || "";
        if (data.impacts && root.dataset.showImpacts === "1") showImpacts(node, data.impacts);
        finishAnswer(node, body, text, request);
        // The answer is whole: the person may write again while the title is being found.
        node.removeAttribute("aria-busy");
        setBusy(false);
        controller = null;
      } else if (name === "sources") {
        showSources(node, data.sources);
        linkCitations(node);
      } else if (name === "notice") {
        showNotice(node, data.message);
      } else if (name === "title") {
        setTitle(data.id, data.title);
      } else if (name === "error") {
        ended = true;
        node.dataset.id = data.message_id || "";
        paint();
        failAnswer(node, data.message);
      }
    };
    try {
      await window.Autan.readEvents(response, handle);
      if (!ended) {
        paint();
        failAnswer(node, strings.networkLost);
      }
    } catch (error) {
      paint();
      if (ended) {
        // Only the title was still to come: nothing is lost.
      } else if (error.name === "AbortError") {
        stoppedAnswer(node, text, request);
      } else {
        failAnswer(node, strings.networkLost);
      }
    } finally {
      if (!ended || controller === ownController) {
        node.removeAttribute("aria-busy");
        setBusy(false);
        controller = null;
      }
      if (jumpButton) jumpButton.hidden = true;
    }
  }

  // The numbered sources of a grounded answer: document, page, and the passage itself.
  function showSources(node, sources) {
    if (!sources || !sources.length) return;
    const box = document.createElement("section");
    box.className = "sources";
    const heading = document.createElement("h3");
    heading.textContent = strings.sources;
    const list = document.createElement("ol");
    const refused = document.createElement("ul");
    refused.className = "refused-links";
    for (const source of sources) {
      if (source.kind === "web_refused") {
        refused.appendChild(refusedLink(source));
        continue;
      }
      const item = document.createElement("li");
      item.value = source.number;
      item.id = `source-${node.dataset.position}-${source.number}`;
      if (source.kind === "web") {
        item.appendChild(webSource(source));
        list.appendChild(item);
        continue;
      }
      const details = document.createElement("details");
      const summary = document.createElement("summary");
      // "3" is one page, "3-4" a range: "page 3", "pages 3-4".
      const pageWord = String(source.pages).includes("-") ? strings.pages : strings.page;
      const where = source.pages ? ` — ${pageWord} ${source.pages}` : "";
      summary.textContent = `[${source.number}] ${source.document_name}${where}`;
      const passage = document.createElement("blockquote");
      if (source.headings) {
        const path = document.createElement("p");
        path.className = "hint";
        path.textContent = source.headings;
        passage.appendChild(path);
      }
      const excerpt = document.createElement("p");
      excerpt.textContent = source.excerpt;
      passage.appendChild(excerpt);
      details.append(summary, passage);
      if (source.document_id) {
        // The original file, at the cited page when the viewer understands `#page=`.
        const link = document.createElement("a");
        link.className = "source-original";
        link.href = `/documents/${source.document_id}/file${source.page ? `#page=${source.page}` : ""}`;
        link.target = "_blank";
        link.rel = "noopener";
        link.textContent = strings.openOriginal;
        const line = document.createElement("p");
        line.appendChild(link);
        details.appendChild(line);
      }
      item.appendChild(details);
      list.appendChild(item);
    }
    box.append(heading, list);
    if (refused.children.length) box.appendChild(refused);
    node.querySelector(".message-body").after(box);
  }

  // A pasted link that was not read, and why in plain words.
  function refusedLink(source) {
    const item = document.createElement("li");
    const url = document.createElement("span");
    url.className = "refused-url";
    url.textContent = source.url;
    const why = strings.refusals[source.reason] || strings.refusals.other;
    item.append(url, ` — ${strings.notRead} ${why}`);
    return item;
  }

  // A web source: title, site, date when known, the passage used and a link to the page.
  function webSource(source) {
    const details = document.createElement("details");
    const summary = document.createElement("summary");
    const date = source.published ? ` (${source.published})` : "";
    summary.textContent = `[${source.number}] ${source.title} — ${source.site}${date}`;
    const passage = document.createElement("blockquote");
    const excerpt = document.createElement("p");
    excerpt.textContent = source.excerpt;
    const open = document.createElement("p");
    const link = document.createElement("a");
    link.href = source.url;
    link.target = "_blank";
    link.rel = "noopener noreferrer";
    link.textContent = strings.openPage;
    open.appendChild(link);
    passage.append(excerpt, open);
    details.append(summary, passage);
    return details;
  }

  function finishAnswer(node, body, text, request) {
    renderMarkdown(body, text);
    linkCitations(node);
    actions(node);
    if (temporary) {
      history.push({ role: "assistant", content: text });
    } else if (node.dataset.id) {
      if (text.trim()) addAnswerTools(node);
      addFeedback(node);
    }
    live.textContent = `${strings.answered} ${text.slice(0, 600)}`;
    textarea.focus({ preventScroll: true });
    keepInView(); // the buttons under the answer, in view above the composer
  }

  // The middle of EcoLogits' range, in Wh and g, two significant digits in the page's language
  // (the server renders stored answers the same way: footprint/display.py).
  function showImpacts(node, impacts) {
    const format = new Intl.NumberFormat(document.documentElement.lang || "fr", { maximumSignificantDigits: 2 });
    const middle = (range) => ((range.min + range.max) / 2) * 1000;
    const note = document.createElement("p");
    note.className = "hint impacts";
    note.title = strings.impactsTitle;
    note.textContent = strings.impacts
      .replace("{energy}", format.format(middle(impacts.energy)))
      .replace("{gwp}", format.format(middle(impacts.gwp)));
    node.appendChild(note);
  }

  function stoppedAnswer(node, text, request) {
    const note = document.createElement("p");
    note.className = "hint status-note";
    note.textContent = strings.stopped;
    node.appendChild(note);
    if (text.trim()) {
      // The words written so far stay, to copy; trying again asks the same question anew.
      actions(node);
      node.querySelector("button[data-action=regenerate]").textContent = strings.retry;
    } else {
      // Stopped before the first word: nothing to copy, the question waits for a retry.
      node.classList.add("message-stopped");
      const bar = document.createElement("div");
      bar.className = "message-actions";
      const retry = document.createElement("button");
      retry.type = "button";
      retry.className = "button";
      retry.dataset.action = "regenerate";
      retry.textContent = strings.retry;
      bar.appendChild(retry);
      node.appendChild(bar);
    }
    if (temporary && text) history.push({ role: "assistant", content: text });
    live.textContent = strings.stopped;
    textarea.focus({ preventScroll: true });
    keepInView();
  }

  // Said before the answer: a Docs document left out (access lost, or not confirmed).
  function showNotice(node, message) {
    const box = document.createElement("div");
    box.className = "alert alert-warning inline-notice";
    box.setAttribute("role", "status");
    const p = document.createElement("p");
    p.textContent = message;
    box.appendChild(p);
    node.insertBefore(box, node.querySelector(".message-body"));
  }

  function failAnswer(node, message) {
    node.classList.add("message-failed");
    const box = document.createElement("div");
    box.className = "alert alert-error inline-error";
    box.setAttribute("role", "alert");
    const p = document.createElement("p");
    p.textContent = message;
    const retry = document.createElement("button");
    retry.type = "button";
    retry.className = "button";
    retry.dataset.action = "regenerate";
    retry.textContent = strings.retry;
    box.append(p, retry);
    node.appendChild(box);
    keepInView();
  }

  // "[2]" in an answer becomes a link to its second source (when the answer has one), which
  // opens that source's passage; code blocks are left as written. `node` holds one answer's
  // `.message-body` and `.sources` (an answer's article, or one side of a blind pair).
  function linkCitations(node) {
    const body = node.querySelector(".message-body");
    if (!body || !node.querySelector(".sources")) return;
    const walker = document.createTreeWalker(body, NodeFilter.SHOW_TEXT, {
      acceptNode: (text) => (text.parentElement.closest("code, pre, a") ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT),
    });
    const found = [];
    while (walker.nextNode()) if (/\[\d{1,2}\]/.test(walker.currentNode.nodeValue)) found.push(walker.currentNode);
    for (const text of found) {
      const parts = text.nodeValue.split(/(\[\d{1,2}\])/);
      const fragment = document.createDocumentFragment();
      for (const part of parts) {
        const number = /^\[(\d{1,2})\]$/.exec(part);
        const target = number && node.querySelector(`#source-${node.dataset.position}-${number[1]}`);
        if (!target) {
          fragment.append(part);
          continue;
        }
        const link = document.createElement("a");
        link.className = "citation";
        link.href = `#${target.id}`;
        link.textContent = part;
        link.setAttribute("aria-label", strings.sourceNumber.replace("{number}", number[1]));
        fragment.append(link);
      }
      text.replaceWith(fragment);
    }
  }

  messages.addEventListener("click", (event) => {
    const link = event.target.closest("a.citation");
    if (!link) return;
    event.preventDefault();
    const item = document.getElementById(link.getAttribute("href").slice(1));
    if (!item) return;
    const details = item.querySelector("details");
    if (details) details.open = true;
    item.classList.add("cited");
    item.scrollIntoView({ block: "center" });
    item.querySelector("summary")?.focus({ preventScroll: true });
  });

  // Export and "Envoyer vers Docs" of a stored answer, as the server renders them under each
  // answer (the page's `answer-tools` template), for the answer that just ended.
  function addAnswerTools(node) {
    const template = document.getElementById("answer-tools");
    const bar = node.querySelector(".message-actions");
    if (!template || !bar) return;
    const id = encodeURIComponent(node.dataset.id);
    const tools = template.content.cloneNode(true);
    tools.querySelectorAll("[href], [action], [hx-post]").forEach((element) => {
      for (const name of ["href", "action", "hx-post"]) {
        const value = element.getAttribute(name);
        if (value) element.setAttribute(name, value.replace("__ID__", id));
      }
    });
    const added = Array.from(tools.children);
    bar.appendChild(tools);
    if (window.htmx) added.forEach((element) => window.htmx.process(element));
  }

  function addFeedback(node) {
    const id = node.dataset.id;
    const form = document.createElement("form");
    form.className = "feedback";
    form.method = "post";
    form.action = `/messages/${id}/feedback`;
    form.setAttribute("hx-post", form.action);
    form.setAttribute("hx-swap", "outerHTML");
    form.innerHTML = `<input type="hidden" name="csrf_token"><fieldset><legend class="visually-hidden"></legend>
      <button type="submit" name="rating" value="1" class="thumb" aria-pressed="false"><span aria-hidden="true">👍</span> <span></span></button>
      <button type="submit" name="rating" value="-1" class="thumb" aria-pressed="false"><span aria-hidden="true">👎</span> <span></span></button></fieldset>`;
    form.querySelector("input").value = csrf;
    form.querySelector("legend").textContent = strings.helpful;
    const labels = form.querySelectorAll(".thumb > span:last-child");
    labels[0].textContent = strings.helpful;
    labels[1].textContent = strings.notHelpful;
    node.appendChild(form);
    if (window.htmx) window.htmx.process(form);
  }

  // A conversation just created: first in the sidebar under the one "Today" heading (the
  // server marks it), with its Rename and Delete actions offered at once.
  function addToSidebar(id, label) {
    showConversationActions(id);
    const list = document.getElementById("conversation-list");
    if (!list) return;
    list.querySelectorAll("[aria-current]").forEach((a) => a.removeAttribute("aria-current"));
    if (list.querySelector(`a[data-id="${id}"]`)) return;
    const heading = list.querySelector("h3.group-title");
    let first = heading ? heading.nextElementSibling : null;
    if (!first || !first.matches("ul.conversation-list") || heading.dataset.today !== "1") {
      const h = document.createElement("h3");
      h.className = "group-title";
      h.dataset.today = "1";
      h.textContent = strings.today;
      first = document.createElement("ul");
      first.className = "conversation-list";
      list.prepend(h, first);
      h.after(first);
    }
    const li = document.createElement("li");
    const a = document.createElement("a");
    a.href = `/c/${id}`;
    a.dataset.id = id;
    a.setAttribute("aria-current", "page");
    a.textContent = label;
    li.appendChild(a);
    first.prepend(li);
  }

  function showConversationActions(id) {
    const bar = document.getElementById("chat-actions");
    if (!bar) return;
    bar.querySelector("form.rename-form").action = `/c/${id}/rename`;
    bar.querySelector("form.delete-form").action = `/c/${id}/delete`;
    addConversationTools(id);
    bar.hidden = false;
  }

  // Export, "Envoyer vers Docs" and Docs documents of the conversation just created, as the
  // server renders them for a stored one (the page's `conversation-tools` template): the
  // new-conversation page had no id to put in their links. Once only: the template goes.
  function addConversationTools(id) {
    const template = document.getElementById("conversation-tools");
    if (!template) return;
    const safe = encodeURIComponent(id);
    const tools = template.content.cloneNode(true);
    tools.querySelectorAll("[href], [action], [hx-post], [hx-get]").forEach((element) => {
      for (const name of ["href", "action", "hx-post", "hx-get"]) {
        const value = element.getAttribute(name);
        if (value) element.setAttribute(name, value.replace("__ID__", safe));
      }
    });
    const added = Array.from(tools.children);
    template.replaceWith(tools);
    if (window.htmx) added.forEach((element) => window.htmx.process(element));
  }

  function setTitle(id, text) {
    if (id === conversationId) {
      title.textContent = text;
      document.title = `${text} · Autan`;
      const rename = document.getElementById("rename-title");
      if (rename) rename.value = text;
    }
    document.querySelectorAll(`#conversation-list a[data-id="${id}"]`).forEach((a) => { a.textContent = text; });
  }

  // -- Actions ------------------------------------------------------------------------------

  function submitQuestion() {
    const content = textarea.value;
    if (!content.trim()) {
      showError(strings.empty, null);
      textarea.focus();
      return;
    }
    clearEmptyState();
    const node = article("user", nextPosition());
    node.querySelector(".message-body").textContent = content;
    actions(node);
    messages.appendChild(node);
    textarea.value = "";
    send({ action: "send", content }, { userNode: node, typed: content });
  }

  composer.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!controller) submitQuestion();
  });

  textarea.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      if (!controller) submitQuestion();
    }
  });
  textarea.addEventListener("input", saveDraft);
  root.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && controller) stopAnswer();
  });
  stopButton.addEventListener("click", () => controller && stopAnswer());

  function stopAnswer() {
    if (streamReady) controller.abort();
    else stopWanted = true;
  }

  // -- Following the answer ---------------------------------------------------------------

  function nearBottom() {
    const page = document.scrollingElement;
    return page.scrollHeight - page.scrollTop - window.innerHeight < 48;
  }

  // The very bottom of the page: the last answer and its buttons sit above the composer.
  function toLatest() {
    window.scrollTo({ top: document.scrollingElement.scrollHeight });
  }

  window.addEventListener("scroll", () => {
    if (!controller) return;
    following = nearBottom();
    if (jumpButton) jumpButton.hidden = following;
  }, { passive: true });

  jumpButton?.addEventListener("click", () => {
    following = true;
    jumpButton.hidden = true;
    toLatest();
    textarea.focus({ preventScroll: true });
  });

  function keepInView() {
    if (following) toLatest();
    else if (jumpButton) jumpButton.hidden = false;
  }

  messages.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button || controller) return;
    const node = button.closest("article.message");
    const action = button.dataset.action;
    if (action === "copy") {
      copyText(node.querySelector(".message-body").innerText, button);
    } else if (action === "regenerate") {
      regenerate(node);
    } else if (action === "edit") {
      startEdit(node);
    }
  });

  function regenerate(node) {
    hideError();
    if (temporary) {
      const index = Number(node.dataset.position);
      history = history.slice(0, index);
    }
    removeFrom(node);
    // This answer, not only the last one: the server forgets what followed it, as the page did.
    send({ action: "regenerate", position: Number(node.dataset.position) });
  }

  function startEdit(node) {
    const body = node.querySelector(".message-body");
    if (node.querySelector(".edit-form")) return;
    const original = body.textContent;
    const form = document.createElement("form");
    form.className = "edit-form";
    const id = `edit-${node.dataset.position}`;
    form.innerHTML = `<label></label><textarea rows="3"></textarea>
      <div class="composer-buttons"><button type="submit" class="button button-primary"></button>
      <button type="button" class="button"></button></div>`;
    const label = form.querySelector("label");
    const area = form.querySelector("textarea");
    label.textContent = strings.editLabel;
    label.htmlFor = id;
    area.id = id;
    area.value = original;
    const [save, cancel] = form.querySelectorAll("button");
    save.textContent = strings.save;
    cancel.textContent = strings.cancel;
    body.hidden = true;
    node.querySelector(".message-actions").hidden = true;
    body.after(form);
    area.focus();
    cancel.addEventListener("click", () => {
      form.remove();
      body.hidden = false;
      node.querySelector(".message-actions").hidden = false;
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const content = area.value;
      if (!content.trim() || controller) return;
      const position = Number(node.dataset.position);
      form.remove();
      body.hidden = false;
      node.querySelector(".message-actions").hidden = false;
      body.textContent = content;
      const next = node.nextElementSibling;
      if (next) removeFrom(next);
      if (temporary) history = history.slice(0, position);
      send({ action: temporary ? "send" : "edit", content, position });
    });
  }

  // -- Attached files ---------------------------------------------------------------------

  const attachInput = document.getElementById("attach");
  const attachmentList = document.getElementById("attachments");

  function attachmentRow(name) {
    const item = document.createElement("li");
    const label = document.createElement("span");
    label.className = "attachment-name";
    label.textContent = name;
    const progress = document.createElement("progress");
    progress.max = 100;
    progress.value = 0;
    progress.setAttribute("aria-label", name);
    const state = document.createElement("span");
    state.className = "attachment-state";
    state.textContent = strings.uploading;
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "link-button attachment-remove";
    remove.textContent = strings.remove;
    remove.setAttribute("aria-label", strings.removeNamed.replace("{name}", name));
    item.append(label, progress, state, " ", remove);
    attachmentList.appendChild(item);
    return item;
  }

  // Remove a file before (or after) sending: it is deleted from the conversation.
  attachmentList?.addEventListener("click", async (event) => {
    const button = event.target.closest("button.attachment-remove");
    if (!button) return;
    const item = button.closest("li");
    if (item.dataset.id) {
      const response = await fetch(`/chat/attachments/${item.dataset.id}/delete`, {
        method: "POST", headers: { "X-CSRF-Token": csrf, Accept: "application/json" },
      });
      if (!response.ok && response.status !== 404) {
        showError(strings.serverError, null);
        return;
      }
    }
    item.remove();
    composer.querySelector("textarea")?.focus();
  });

  function showAttachment(item, info) {
    item.dataset.id = info.id;
    item.dataset.status = info.status;
    const state = item.querySelector(".attachment-state");
    state.textContent = info.error ? `${info.label} : ${info.error}` : info.label;
    state.classList.toggle("attachment-failed", info.status === "failed");
    const progress = item.querySelector("progress");
    if (progress) {
      if (info.status === "ready" || info.status === "failed") progress.remove();
      else progress.value = Math.round(100 * (info.progress || 0));
    }
  }

  function follow(item) {
    const id = item.dataset.id;
    const poll = async () => {
      if (!item.isConnected) return;
      try {
        const response = await fetch(`/chat/attachments/${id}`, { headers: { Accept: "application/json" } });
        if (response.ok) showAttachment(item, await response.json());
      } catch { /* the next poll will tell */ }
      if (item.dataset.status !== "ready" && item.dataset.status !== "failed") setTimeout(poll, 1500);
    };
    setTimeout(poll, 800);
  }

  // The first file sent to a new conversation creates it; the others wait for its id, so
  // that files chosen together all land in that one conversation (not one each).
  let creating = null;

  // `send(item)` sends one file (uploaded, or picked on a drive) and shows what became of it.
  async function queueUpload(name, send) {
    if (temporary) {
      showError(strings.noTemporaryFiles, null);
      return;
    }
    const item = attachmentRow(name);
    while (!conversationId && creating) await creating;
    if (!conversationId) {
      let done;
      creating = new Promise((resolve) => { done = resolve; });
      try { await send(item); } finally { creating = null; done(); }
    } else {
      await send(item);
    }
  }

  function upload(file) {
    return queueUpload(file.name, (item) => sendFile(file, item));
  }

  // The server's answer to an attachment, uploaded or picked: the same for both.
  function attached(item, status, answer) {
    if (status === 201 && answer) {
      if (!conversationId) {
        conversationId = answer.conversation_id;
        root.dataset.conversationId = conversationId;
        window.history.replaceState({}, "", `/c/${conversationId}`);
        addToSidebar(conversationId, strings.newConversation);
        if (temporaryBox) temporaryBox.disabled = true;
      }
      showAttachment(item, answer.document);
      follow(item);
    } else {
      const message = answer && answer.error ? answer.error.message : strings.uploadFailed;
      showAttachment(item, { id: "", status: "failed", label: strings.uploadFailed, error: message });
    }
  }

  // A file of a connected drive folder: the server downloads it and attaches it.
  async function sendDriveFile(drive, path, item) {
    const body = new URLSearchParams({
      drive_id: drive, path, conversation_id: conversationId || "", model: modelSelect ? modelSelect.value : "",
    });
    const chosen = document.getElementById("assistant");
    if (!conversationId && chosen && chosen.value) body.append("assistant_id", chosen.value);
    let response;
    try {
      response = await fetch("/chat/attachments/drive", {
        method: "POST", headers: { "X-CSRF-Token": csrf, Accept: "application/json" }, body,
      });
    } catch {
      showAttachment(item, { id: "", status: "failed", label: strings.uploadFailed, error: strings.networkLost });
      return;
    }
    let answer = null;
    try { answer = await response.json(); } catch { /* not JSON */ }
    attached(item, response.status, answer);
  }

  function sendFile(file, item) {
    return new Promise((resolve) => {
    const form = new FormData();
    form.append("file", file);
    form.append("conversation_id", conversationId || "");
    form.append("model", modelSelect ? modelSelect.value : "");
    const chosen = document.getElementById("assistant");
    if (!conversationId && chosen && chosen.value) form.append("assistant_id", chosen.value);
    const request = new XMLHttpRequest();
    request.open("POST", "/chat/attachments");
    request.setRequestHeader("X-CSRF-Token", csrf);
    request.setRequestHeader("Accept", "application/json");
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) item.querySelector("progress").value = Math.round((100 * event.loaded) / event.total);
    });
    request.addEventListener("load", () => {
      let answer = null;
      try { answer = JSON.parse(request.responseText); } catch { /* not JSON */ }
      attached(item, request.status, answer);
    });
    request.addEventListener("error", () => {
      showAttachment(item, { id: "", status: "failed", label: strings.uploadFailed, error: strings.networkLost });
    });
    request.addEventListener("loadend", () => resolve());
    request.send(form);
    });
  }

  if (attachInput) {
    attachInput.addEventListener("change", () => {
      for (const file of attachInput.files) upload(file);
      attachInput.value = "";
    });
    composer.addEventListener("dragover", (event) => {
      event.preventDefault();
      composer.classList.add("dragging");
    });
    composer.addEventListener("dragleave", () => composer.classList.remove("dragging"));
    composer.addEventListener("drop", (event) => {
      event.preventDefault();
      composer.classList.remove("dragging");
      for (const file of event.dataTransfer.files) upload(file);
    });
    attachmentList.querySelectorAll("li[data-id]").forEach((item) => {
      if (item.dataset.status !== "ready" && item.dataset.status !== "failed") follow(item);
    });
  }

  // Files ticked in the drive picker (one level of a connected folder) join the list above.
  const drivePicker = document.getElementById("drive-picker");
  if (drivePicker) {
    drivePicker.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-drive-attach]");
      if (!button) return;
      const box = button.closest(".drive-pick");
      const picked = Array.from(box.querySelectorAll("input[type=checkbox]:checked"));
      for (const input of picked) {
        input.checked = false;
        queueUpload(input.dataset.name, (item) => sendDriveFile(box.dataset.drive, input.dataset.path, item));
      }
      if (picked.length) drivePicker.open = false;
    });
  }

  // -- Settings of the conversation -------------------------------------------------------

  const assistantSelect = document.getElementById("assistant");
  if (assistantSelect) {
    assistantSelect.addEventListener("change", () => {
      const option = assistantSelect.selectedOptions[0];
      document.getElementById("assistant-description").textContent = option ? option.dataset.description || "" : "";
    });
  }

  if (modelSelect && modelDescription) {
    modelSelect.addEventListener("change", () => {
      const option = modelSelect.selectedOptions[0];
      modelDescription.textContent = option ? option.dataset.description || "" : "";
    });
  }

  if (temporaryBox) {
    temporaryBox.addEventListener("change", () => {
      temporary = temporaryBox.checked;
      temporaryBanner.hidden = !temporary;
      title.textContent = temporary ? strings.temporaryTitle : strings.newConversation;
      root.classList.toggle("is-temporary", temporary);
      if (temporary) forgetDraft();
    });
  }

  window.addEventListener("beforeunload", (event) => {
    if (root.isConnected && temporary && history.length) {
      event.preventDefault();
      event.returnValue = "";
    }
  });

  // The blind pair (arena-chat.js) renders each answer, lists its sources under it and links
  // its markers to them as an answer does: one implementation, so the pair's live markup is
  // the one a reload gives (each of its answers is then an ordinary answer).
  window.Autan.renderMarkdown = renderMarkdown;
  window.Autan.showSources = showSources;
  window.Autan.linkCitations = linkCitations;

  document.querySelectorAll("[data-markdown]").forEach(decorate);
  messages.querySelectorAll("article.message-assistant").forEach(linkCitations);
  restoreDraft();
  if (messages.lastElementChild) toLatest();
}

  // A chat page may arrive by a full load or in a body swapped by htmx (hx-boost).
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
  document.addEventListener("htmx:afterSettle", start);
})();
