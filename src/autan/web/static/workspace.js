// Knowledge workspace: many files (or a folder) sent to a collection, three at a time, each
// with its own progress and state; refusals are explained in the reader's language by the
// server. Delegated listeners, so it works on pages that htmx swaps in.
(() => {
  const LANES = 3;

  function row(list, name) {
    const item = document.createElement("li");
    const label = document.createElement("span");
    label.className = "upload-name";
    label.textContent = name;
    const progress = document.createElement("progress");
    progress.max = 100;
    progress.value = 0;
    progress.setAttribute("aria-label", name);
    const state = document.createElement("span");
    state.className = "upload-state";
    item.append(label, progress, state);
    list.appendChild(item);
    return item;
  }

  function send(section, file, item) {
    const strings = section.dataset;
    item.querySelector(".upload-state").textContent = strings.uploading;
    return new Promise((resolve) => {
      const form = new FormData();
      form.append("file", file, file.webkitRelativePath || file.name);
      form.append("collection", section.dataset.collection);
      const request = new XMLHttpRequest();
      request.open("POST", "/collections/upload");
      request.setRequestHeader("X-CSRF-Token", section.dataset.csrf);
      request.setRequestHeader("Accept", "application/json");
      request.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable) item.querySelector("progress").value = Math.round((100 * event.loaded) / event.total);
      });
      const finish = (text, failed) => {
        item.querySelector("progress")?.remove();
        const state = item.querySelector(".upload-state");
        state.textContent = text;
        item.dataset.status = failed ? "failed" : "sent";
        state.classList.toggle("doc-error", failed);
        resolve();
      };
      request.addEventListener("load", () => {
        let answer = null;
        try { answer = JSON.parse(request.responseText); } catch { /* not JSON */ }
        if ((request.status === 201 || request.status === 200) && answer) {
          finish(request.status === 200 ? `${strings.known} · ${answer.label}` : answer.label, false);
        } else {
          const why = answer && answer.error ? answer.error.message : request.statusText;
          finish(`${strings.failed} : ${why}`, true);
        }
      });
      request.addEventListener("error", () => finish(`${strings.failed} : ${strings.network}`, true));
      request.send(form);
    });
  }

  function refresh(section) {
    const table = document.getElementById("documents");
    if (table && window.htmx) {
      window.htmx.ajax("GET", `/collections/${section.dataset.collection}/documents`, { target: "#documents", swap: "outerHTML" });
    }
  }

  async function sendAll(section, files) {
    const list = section.querySelector(".upload-list");
    const queue = files.map((file) => [file, row(list, file.webkitRelativePath || file.name)]);
    const lane = async () => {
      while (queue.length) {
        const [file, item] = queue.shift();
        await send(section, file, item);
      }
    };
    await Promise.all(Array.from({ length: LANES }, lane));
    refresh(section);
  }

  document.addEventListener("change", (event) => {
    const input = event.target;
    if (!(input instanceof HTMLInputElement) || input.type !== "file") return;
    const section = input.closest("section.upload[data-collection]");
    if (!section || !input.files.length) return;
    const files = Array.from(input.files);
    input.value = "";
    sendAll(section, files);
  });
})();
