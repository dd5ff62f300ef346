// Server-Sent Events read from a fetch response: the chat's answers and its blind pairs are
// POSTed (EventSource cannot), so both pages read their streams with this one reader.
(() => {
  "use strict";
  const Autan = (window.Autan = window.Autan || {});

  // Calls handle(name, data) for each event that carries JSON data, in order, until the
  // stream ends; rejects when the network fails or the fetch is aborted (AbortError: Stop).
  Autan.readEvents = async function readEvents(response, handle) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        let name = "message";
        const data = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) name = line.slice(6).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).trim());
        }
        if (data.length) handle(name, JSON.parse(data.join("\n")));
      }
    }
  };
})();
