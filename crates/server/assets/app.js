// paybridge console: live updates (server-sent events) and the mapping editor's preview.
// Ours alone; no third-party code.
"use strict";

(function () {
  const csrf = document.body ? document.body.dataset.csrf : "";

  // Live updates: on each tick whose numbers changed, refresh what the page shows live.
  const live = document.querySelector("[data-live]");
  const rows = document.getElementById("run-rows");
  if ((live || rows) && window.EventSource) {
    let last = "";
    const source = new EventSource("/console/events");
    source.addEventListener("tick", async (event) => {
      if (event.data === last) return;
      last = event.data;
      const target = live || rows;
      const url = live ? live.dataset.live : rows.dataset.rows;
      try {
        const answer = await fetch(url, { credentials: "same-origin" });
        if (answer.ok) target.innerHTML = await answer.text();
      } catch (_) { /* the next tick tries again */ }
    });
  }

  // The mapping editor: edits and the sample go to the preview as one types.
  const layout = document.querySelector(".flow-layout");
  if (!layout) return;
  const flow = layout.dataset.flow;
  const status = document.getElementById("preview-status");
  const problems = document.getElementById("problems");
  const preview = document.getElementById("preview");
  const text = document.getElementById("flow-text");
  const deploy = document.getElementById("deploy");
  const sample = document.getElementById("sample");
  let timer = null;
  let sequence = 0;

  function element(tag, className, content) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (content !== undefined) node.textContent = content;
    return node;
  }

  function edits() {
    return Array.from(document.querySelectorAll("textarea.expr"))
      .filter((area) => area.value !== area.dataset.original)
      .map((area) => ({ step: area.dataset.step, field: area.dataset.field, expression: area.value }));
  }

  function show(answer) {
    document.querySelectorAll(".field-error").forEach((span) => { span.textContent = ""; });
    problems.replaceChildren();
    for (const problem of answer.problems || []) {
      const span = problem.step && problem.field
        ? document.querySelector(`.field-error[data-for="${CSS.escape(problem.step + "/" + problem.field)}"]`)
        : null;
      if (span) span.textContent = problem.message;
      else problems.appendChild(element("p", "error", problem.text));
    }
    if (answer.error) problems.appendChild(element("p", "error", answer.error));
    if (text) text.value = answer.text;
    if (deploy) deploy.disabled = !answer.ok || (answer.problems || []).length > 0 || !!answer.error;
    document.getElementById("version").textContent = answer.version || "(does not compile)";
    status.textContent = answer.ok ? "Every condition and mapping evaluated." : "Some steps have problems.";
    preview.replaceChildren();
    for (const step of answer.steps || []) {
      const box = element("div", "preview-step" + (step.error ? " failed" : "") + (step.skipped ? " skipped" : ""));
      box.dataset.step = step.name;
      box.appendChild(element("strong", "", step.name + " · " + step.action));
      if (step.skipped) box.appendChild(element("p", "muted", "skipped: its condition is false"));
      if (step.error) box.appendChild(element("p", "error", step.error));
      if (step.note) box.appendChild(element("p", "muted", step.note));
      if (step.request) box.appendChild(element("pre", "request", JSON.stringify(step.request, null, 2)));
      preview.appendChild(box);
    }
  }

  async function refresh() {
    const mine = ++sequence;
    status.textContent = "Evaluating…";
    try {
      const answer = await fetch(`/console/flows/${encodeURIComponent(flow)}/preview`, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify({ edits: edits(), sample: sample.value }),
      });
      if (mine !== sequence) return;
      if (!answer.ok) {
        status.textContent = `The preview failed (HTTP ${answer.status}); reload the page.`;
        return;
      }
      show(await answer.json());
    } catch (error) {
      status.textContent = "The preview could not be reached: " + error;
    }
  }

  function soon() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 250);
  }
  document.querySelectorAll("textarea.expr").forEach((area) => area.addEventListener("input", soon));
  sample.addEventListener("input", soon);
  refresh();
})();
