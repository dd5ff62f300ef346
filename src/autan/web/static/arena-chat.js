// "Two answers to compare" in the chat: the composer's question goes to two anonymous models
// (POST /chat/compare, Server-Sent Events over fetch), both answers stream side by side
// (stacked on a phone), grounded like any answer (sources shown under each), Stop ends both;
// the person votes, then the models are named. Separate from chat.js: the two share the
// page's elements, `#chat[data-conversation-id]`, and `window.Autan` (sse.js's reader,
// chat.js's Markdown rendering, sources and citation links).
(() => {
  "use strict";

  function startPairs() {
    const root = document.getElementById("chat");
    const compareButton = document.getElementById("compare");
    const template = document.getElementById("pair-template");
    if (!root || !compareButton || !template || root.dataset.pairsStarted) return;
    root.dataset.pairsStarted = "1";
    const strings = JSON.parse(document.getElementById("pair-strings").textContent);
    const csrf = root.dataset.csrf;
    const messages = document.getElementById("messages");
    const textarea = document.getElementById("content");
    const sendButton = document.getElementById("send");
    const live = document.getElementById("live");
    const errorBox = document.getElementById("chat-error");
    const errorText = document.getElementById("chat-error-text");
    const temporaryBox = document.getElementById("temporary");
    const stopButton = document.getElementById("stop");
    let pairs = 0;
    // Stop ends both answers. Pressed before the server has stored the question (its "pair"
    // event), it waits for it, so the question is always kept with its two stopped answers.
    let controller = null;
    let pairReady = false;
    let stopWanted = false;

    function stopPair() {
      if (!controller) return;
      if (pairReady) controller.abort();
      else stopWanted = true;
    }
    stopButton.addEventListener("click", stopPair);
    root.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && controller) stopPair();
    });

    function pairError(message) {
      errorText.textContent = message;
      document.getElementById("chat-retry").hidden = true;
      errorBox.hidden = false;
    }

    function lastPosition() {
      const all = messages.querySelectorAll("article.message");
      return all.length ? Number(all[all.length - 1].dataset.position) : -1;
    }

    // Temporary conversations store nothing; a pair is stored, so it is not offered there.
    function followTemporary() {
      compareButton.hidden = Boolean(temporaryBox && temporaryBox.checked);
    }
    if (temporaryBox) temporaryBox.addEventListener("change", followTemporary);
    followTemporary();

    compareButton.addEventListener("click", () => {
      if (sendButton.disabled || compareButton.disabled) return;
      const content = textarea.value;
      if (!content.trim()) {
        pairError(strings.empty);
        textarea.focus();
        return;
      }
      errorBox.hidden = true;
      askPair(content);
    });

    async function askPair(content) {
      document.getElementById("empty-chat")?.remove();
      const position = lastPosition() + 1;
      const question = document.createElement("article");
      question.className = "message message-user";
      question.dataset.role = "user";
      question.dataset.position = String(position);
      const heading = document.createElement("h2");
      heading.className = "message-author";
      heading.textContent = document.getElementById("chat-strings") ? JSON.parse(document.getElementById("chat-strings").textContent).you : "";
      const body = document.createElement("div");
      body.className = "message-body user-text";
      body.textContent = content;
      question.append(heading, body);
      messages.appendChild(question);
      textarea.value = "";
      sendButton.disabled = compareButton.disabled = true;
      controller = new AbortController();
      pairReady = stopWanted = false;
      stopButton.hidden = false;
      stopButton.focus();
      // A new conversation takes the assistant chosen in the composer, as a question does.
      const assistant = document.getElementById("assistant");
      const asked = {
        content,
        conversation_id: root.dataset.conversationId || null,
        assistant_id: !root.dataset.conversationId && assistant ? assistant.value || null : null,
      };
      let response;
      try {
        response = await fetch("/chat/compare", {
          method: "POST",
          headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, Accept: "text/event-stream" },
          body: JSON.stringify(asked),
          signal: controller.signal,
        });
      } catch {
        response = null;
      }
      const type = response ? response.headers.get("content-type") || "" : "";
      if (!response || !response.ok || !type.startsWith("text/event-stream")) {
        let message = response ? strings.serverError : strings.networkLost;
        try { message = (await response.json()).error.message || message; } catch { /* not JSON */ }
        question.remove();
        if (!textarea.value) textarea.value = content; // nothing typed is lost
        sendButton.disabled = compareButton.disabled = false;
        stopButton.hidden = true;
        controller = null;
        pairError(message);
        textarea.focus();
        return;
      }
      const node = template.content.firstElementChild.cloneNode(true);
      node.dataset.position = String(position + 2); // the question, answer A, answer B
      pairs += 1;
      node.querySelectorAll("[data-id]").forEach((field) => {
        field.id = `pair-${pairs}-${field.dataset.id}`;
        node.querySelector(`label[data-for="${field.dataset.id}"]`).htmlFor = field.id;
      });
      // Positions of the question's two answers: the sources' ids differ side by side.
      node.querySelectorAll(".arena-answer").forEach((side, index) => {
        side.dataset.position = String(position + 1 + index);
      });
      messages.appendChild(node);
      live.textContent = strings.writing;
      node.scrollIntoView({ block: "start" });
      await readPair(response, node);
      sendButton.disabled = compareButton.disabled = false;
      stopButton.hidden = true;
      controller = null;
    }

    async function readPair(response, node) {
      const texts = { a: "", b: "" };
      const pending = { a: false, b: false };
      const open = new Set(["a", "b"]);
      let comparisonId = null;
      const side = (name) => node.querySelector(`.arena-answer[data-side="${name}"]`);
      // An answer's rendering (chat.js's: Markdown, sanitised, code highlighted with its copy
      // button, links opening a new tab), then its markers linked again, as an answer's are.
      const paint = (name) => {
        pending[name] = false;
        const answer = side(name);
        const body = answer.querySelector(".message-body");
        if (window.Autan.renderMarkdown) window.Autan.renderMarkdown(body, texts[name]);
        else body.textContent = texts[name];
        window.Autan.linkCitations?.(answer);
      };
      // While streaming, at most one rendering per side and frame, as an answer's.
      const schedule = (name) => {
        if (pending[name]) return;
        pending[name] = true;
        requestAnimationFrame(() => { if (pending[name]) paint(name); });
      };
      const ended = (name) => {
        if (pending[name]) paint(name);
        open.delete(name);
        side(name).removeAttribute("aria-busy");
        if (!open.size) {
          node.querySelectorAll(".arena-vote button").forEach((b) => { b.disabled = false; });
          live.textContent = strings.ready;
        }
      };
      const handle = (name, data) => {
        if (name === "pair") {
          pairReady = true;
          if (stopWanted) controller.abort();
          comparisonId = data.comparison_id;
          node.dataset.comparisonId = comparisonId;
          if (root.dataset.conversationId !== data.conversation_id) {
            root.dataset.conversationId = data.conversation_id;
            window.history.replaceState({}, "", `/c/${data.conversation_id}`);
          }
          // A new (or still untitled) conversation: its title and place in the sidebar (the
          // server's list, newest first).
          const title = document.getElementById("chat-title");
          if (title && data.title && title.textContent !== data.title) {
            title.textContent = data.title;
            document.title = `${data.title} · Autan`;
            if (window.htmx) window.htmx.ajax("GET", "/chat/sidebar", { target: "#conversation-list", swap: "innerHTML" });
          }
        } else if (name === "sources") {
          // Both models read the same sources: each answer lists them, as an answer does,
          // under ids of its own position, so each answer's "[n]" opens its own list.
          for (const name of ["a", "b"]) {
            window.Autan.showSources?.(side(name), data.sources);
            window.Autan.linkCitations?.(side(name));
          }
        } else if (name === "notice") {
          const note = document.createElement("p");
          note.className = "alert alert-warning inline-notice";
          note.setAttribute("role", "status");
          note.textContent = data.message;
          node.querySelector(".arena-answers").before(note);
        } else if (name === "delta") {
          texts[data.side] += data.text;
          schedule(data.side);
        } else if (name === "done") {
          ended(data.side);
        } else if (name === "error") {
          const note = document.createElement("p");
          note.className = "alert alert-error inline-error";
          note.textContent = data.text || strings.failed;
          side(data.side).appendChild(note);
          ended(data.side);
        }
      };
      try {
        await window.Autan.readEvents(response, handle);
      } catch (error) {
        if (error.name !== "AbortError") {
          pairError(strings.networkLost);
        } else {
          // Stopped: what each model wrote stays, said stopped, as a stopped answer is.
          for (const name of open) {
            const note = document.createElement("p");
            note.className = "hint status-note";
            note.textContent = strings.stopped;
            side(name).appendChild(note);
          }
          live.textContent = strings.stopped;
          textarea.focus({ preventScroll: true });
        }
      }
      for (const name of [...open]) ended(name);
      if (comparisonId) wireVote(node, comparisonId);
    }

    function wireVote(node, comparisonId) {
      const form = node.querySelector(".pair-vote");
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const verdict = event.submitter ? event.submitter.value : "";
        const fields = new URLSearchParams(new FormData(form));
        fields.set("verdict", verdict);
        fields.set("csrf_token", csrf);
        let answer;
        try {
          const response = await fetch(`/arena/${comparisonId}/vote`, {
            method: "POST",
            headers: { "Content-Type": "application/x-www-form-urlencoded", "X-CSRF-Token": csrf, Accept: "application/json" },
            body: fields.toString(),
          });
          answer = await response.json();
          if (!response.ok) throw new Error(answer.error ? answer.error.message : strings.serverError);
        } catch (error) {
          pairError(error.message || strings.networkLost);
          return;
        }
        for (const [name, model] of [["a", answer.model_a], ["b", answer.model_b]]) {
          const tag = node.querySelector(`.arena-answer[data-side="${name}"] [data-model]`);
          tag.textContent = model;
          tag.hidden = false;
        }
        const result = node.querySelector(".pair-result");
        result.textContent = `${strings[answer.verdict]} ${strings.revealed.replace("{a}", answer.model_a).replace("{b}", answer.model_b)}`;
        result.hidden = false;
        form.remove();
        result.setAttribute("tabindex", "-1");
        result.focus();
      });
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", startPairs);
  } else {
    startPairs();
  }
  document.addEventListener("htmx:afterSettle", startPairs);
})();
