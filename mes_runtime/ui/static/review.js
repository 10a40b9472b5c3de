// Holon review page (#/review/<batch>): what needs a person, the timeline, what the approved
// rules decided, the signatures; closing an exception and releasing or rejecting the batch
// are electronic signatures (password re-entered, meaning chosen). Release stays disabled
// while anything is open, and the server refuses it too. A decided batch is locked: no
// form is shown. Uses el(), api(), $() and stateBadge() from app.js.
"use strict";

let reviewBatch = null;

function utcText(value) {
  return value ? new Date(value).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC") : "-";
}

function signatureBody(form) {
  return { password: form.querySelector("[name=password]").value, meaning: form.querySelector("[name=meaning]").value };
}

function closeForm(exception) {
  const form = el("form", { class: "close-form", autocomplete: "off", dataset: { exception: exception.id } },
    el("label", {}, "Why the product is unaffected ", el("input", { name: "reason", required: "", minlength: "3" })),
    el("label", {}, "Meaning ", el("select", { name: "meaning" },
      el("option", { value: "approved" }, "approved"), el("option", { value: "rejected" }, "rejected"))),
    el("label", {}, "Your password (signature) ", el("input", { name: "password", type: "password", required: "" })),
    el("button", { type: "submit" }, "Close with signature"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    $("review-error").textContent = "";
    const body = { reason: form.querySelector("[name=reason]").value, signature: signatureBody(form) };
    form.querySelector("[name=password]").value = "";
    try {
      await api(`/exceptions/${exception.id}/close`, { method: "POST", body: JSON.stringify(body) });
      await openReview(reviewBatch);
    } catch (error) {
      $("review-error").textContent = `exception ${exception.id}: ${error.message}`;
    }
  });
  return form;
}

function exceptionItem(x, locked) {
  const item = el("li", { class: `severity-${x.severity}`, dataset: { exception: x.id, status: x.status } },
    `#${x.id} ${x.severity} ${x.category}: ${x.subject} — ${x.message} (raised ${utcText(x.ts)})`);
  if (x.status === "auto_closed") {
    item.append(el("div", { class: "closure" },
      `auto-closed by rule ${x.rule_id} v${x.rule_version} at ${utcText(x.closed_at)}; evidence ${JSON.stringify(x.closure_evidence)}`));
  } else if (x.status === "closed") {
    item.append(el("div", { class: "closure" },
      `closed by ${x.closed_by} (${x.signature_meaning}) at ${utcText(x.closed_at)}: ${x.closure_reason}`));
  } else if (!locked) {
    item.append(closeForm(x));
  }
  return item;
}

async function openReview(batchId) {
  reviewBatch = batchId;
  const path = `/review/${encodeURIComponent(batchId)}`;
  let view, record;
  try {
    [view, record] = await Promise.all([api(path), api(`${path}/record`)]);
  } catch (error) {
    $("review-error").textContent = error.message;
    return;
  }
  const locked = view.decision !== null;
  $("review-batch").textContent = view.batch_id;
  $("review-state").replaceChildren(stateBadge(view.state));
  $("review-recipe").textContent = `${view.recipe}; ended ${utcText(view.ended_at)}; `
    + (view.evaluated ? `rules applied: ${view.rules.map((r) => `${r.id} v${r.version}`).join(", ") || "none"}`
      : "closure rules not applied yet (they are when the batch is released)");
  const decision = $("review-decision");
  decision.className = locked ? "locked" : "";
  decision.textContent = locked
    ? `${view.decision.decision.toUpperCase()} by ${view.decision.signed_by} (${view.decision.meaning}) at ${utcText(view.decision.signed_at)}: ${view.decision.comment}. The batch is locked.`
    : "Not decided yet.";
  $("review-open-count").textContent = `(${view.needs_review.length})`;
  $("review-open").replaceChildren(...(view.needs_review.length
    ? view.needs_review.map((x) => exceptionItem(x, locked)) : [el("li", {}, "nothing")]));
  $("review-auto").replaceChildren(...view.auto_closed.map((x) => exceptionItem(x, locked)));
  $("review-closed").replaceChildren(...view.closed.map((x) => exceptionItem(x, locked)));
  $("review-signatures").replaceChildren(...record.signatures.map((s) => el("li", { dataset: { record: s.record } },
    `${s.printed_name} (${s.signer}), ${s.meaning}, ${utcText(s.signed_at)}: ${s.record}`)));
  $("review-timeline").querySelector("tbody").replaceChildren(...record.timeline.map((t) => el("tr",
    { dataset: { path: t.path } },
    el("td", { title: t.path }, t.path), el("td", {}, utcText(t.started)), el("td", {}, utcText(t.ended)),
    el("td", {}, stateBadge(t.final_state)))));
  $("review-manual").querySelector("tbody").replaceChildren(...record.manual.map((m) => el("tr", {},
    el("td", {}, utcText(m.ts)), el("td", {}, m.actor), el("td", {}, `${m.action} ${m.subject}`),
    el("td", {}, m.reason || ""))));
  const form = $("decision-form");
  form.hidden = locked;
  const open = view.needs_review.length;
  const ended = ["complete", "stopped", "aborted"].includes(view.state);
  const releasing = $("decision").value === "released";
  $("decision-submit").disabled = !ended || (releasing && open > 0);
  $("decision-blocked").textContent = !ended ? "The batch has not ended."
    : releasing && open > 0 ? `Release is refused while ${open} exception${open > 1 ? "s are" : " is"} open.` : "";
}

async function signDecision(event) {
  event.preventDefault();
  $("review-error").textContent = "";
  const form = $("decision-form");
  const body = {
    decision: $("decision").value,
    comment: $("decision-comment").value,
    signature: { password: $("decision-password").value, meaning: $("decision-meaning").value },
  };
  $("decision-password").value = "";
  try {
    await api(`/review/${encodeURIComponent(reviewBatch)}/decision`, { method: "POST", body: JSON.stringify(body) });
    form.reset();
  } catch (error) {
    $("review-error").textContent = error.message;
  }
  await openReview(reviewBatch);
}

// Reports are attachments fetched with the session's token, then saved by the browser.
async function downloadReport(name) {
  $("review-error").textContent = "";
  const response = await fetch(`${API}/review/${encodeURIComponent(reviewBatch)}/${name}`,
    { headers: { Authorization: `Bearer ${token()}` } });
  if (!response.ok) {
    const body = await response.json().catch(() => null);
    $("review-error").textContent = describeError(body) || `HTTP ${response.status}`;
    return;
  }
  const link = el("a", { href: URL.createObjectURL(await response.blob()), download: `batch-${reviewBatch}-${name}` });
  document.body.append(link);
  link.click();
  link.remove();
}

window.addEventListener("DOMContentLoaded", () => {
  $("decision-form").addEventListener("submit", signDecision);
  $("decision").addEventListener("change", () => {
    $("decision-meaning").value = $("decision").value === "released" ? "approved" : "rejected";
    if (reviewBatch) openReview(reviewBatch);
  });
  for (const button of document.querySelectorAll("[data-report]")) {
    button.addEventListener("click", () => downloadReport(button.dataset.report));
  }
});
