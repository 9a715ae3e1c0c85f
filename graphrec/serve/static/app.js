// The graphrec serving page: reads /meta, /recommend, /history and /transfer,
// and posts to /interactions. Every value from the server is inserted as text
// (textContent), never as HTML, so titles cannot inject markup.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { meta: null };

async function requestJson(method, path, body) {
  const options = { method, headers: {} };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  const payload = await response.json().catch(() => ({}));
  if (!response.ok) {
    const where = payload.parameter ? ` (${payload.parameter})` : "";
    throw new Error(`${payload.error || response.statusText}${where}`);
  }
  return payload;
}

function query(params) {
  return new URLSearchParams(params).toString();
}

function setStatus(text, isError = false) {
  const status = $("status");
  status.textContent = text;
  status.classList.toggle("error", isError);
}

function cell(row, text, className) {
  const td = document.createElement("td");
  if (className) td.className = className;
  td.textContent = text;
  row.appendChild(td);
  return td;
}

function genreCell(row, genres) {
  const td = cell(row, "");
  for (const genre of genres) {
    const tag = document.createElement("span");
    tag.className = "genre";
    tag.textContent = genre;
    td.appendChild(tag);
  }
}

function formatDate(seconds) {
  return new Date(seconds * 1000).toISOString().slice(0, 10);
}

function renderRecommendations(result) {
  const body = $("recommendations").querySelector("tbody");
  body.replaceChildren();
  result.items.forEach((item, position) => {
    const row = document.createElement("tr");
    row.className = "rec-row";
    row.dataset.item = item.item;
    cell(row, String(position + 1), "num");
    cell(row, item.title, "title");
    genreCell(row, item.genres);
    cell(row, result.fallback === "popular" ? String(item.score) : item.score.toFixed(3), "num");
    const action = cell(row, "");
    const add = document.createElement("button");
    add.type = "button";
    add.className = "add secondary";
    add.textContent = "Add";
    add.title = "record an interaction with this item";
    add.addEventListener("click", () => addInteraction(item.item));
    action.appendChild(add);
    body.appendChild(row);
  });

  const note = $("rec-note");
  note.classList.remove("info");
  if (result.fallback === "popular") {
    note.textContent = "unknown user: most popular in this scenario";
  } else if (result.folded_in) {
    note.textContent = `folded in with ${result.added_interactions} added`;
    note.classList.add("info");
  } else {
    note.textContent = "";
  }
  note.classList.toggle("hidden", note.textContent === "");
}

function renderHistory(result) {
  const body = $("history").querySelector("tbody");
  body.replaceChildren();
  $("history-scenario").textContent = result.scenario ? `in ${result.scenario}` : "";
  for (const entry of result.items) {
    const row = document.createElement("tr");
    if (entry.source === "added") row.className = "added";
    cell(row, entry.title);
    genreCell(row, entry.genres);
    cell(row, entry.rating === null ? "" : String(entry.rating), "num");
    cell(row, formatDate(entry.timestamp), "date");
    cell(row, entry.source);
    body.appendChild(row);
  }
  let note = `${result.items.length} of ${result.total} interactions shown.`;
  if (!result.known_user && result.total === 0) note = "This user is not in the dataset.";
  else if (result.total === 0) note = "No interactions of this user in this scenario.";
  $("history-note").textContent = note;
}

function renderTransfer(result) {
  const box = $("transfer");
  box.replaceChildren();
  if (!result.weights) {
    const note = document.createElement("p");
    note.className = "muted";
    note.textContent = result.note;
    box.appendChild(note);
    return;
  }

  const table = document.createElement("table");
  table.className = "heatmap";
  const head = table.createTHead().insertRow();
  const corner = document.createElement("th");
  corner.textContent = "scored in \u2193 / evidence from \u2192";
  head.appendChild(corner);
  for (const name of result.scenarios) {
    const th = document.createElement("th");
    th.textContent = name;
    head.appendChild(th);
  }

  const body = table.createTBody();
  result.weights.forEach((weights, s) => {
    const row = body.insertRow();
    const label = document.createElement("th");
    label.textContent = result.scenarios[s];
    row.appendChild(label);
    for (const weight of weights) {
      const td = cell(row, weight.toFixed(2));
      // The colour scale is absolute (0 to 1, since rows sum to 1), so equal weights look pale, not saturated.
      td.style.background = `rgba(36, 89, 168, ${(0.04 + 0.9 * weight).toFixed(3)})`;
      td.style.color = weight > 0.5 ? "#fff" : "#1d232b";
    }
  });
  box.appendChild(table);
}

async function show() {
  const user = $("user").value.trim();
  const scenario = $("scenario").value;
  const k = $("k").value;
  if (!user) {
    setStatus("Enter a user id.", true);
    return;
  }
  setStatus("Loading\u2026");
  try {
    const [recommendations, history] = await Promise.all([
      requestJson("GET", `/recommend?${query({ user, scenario, k })}`),
      requestJson("GET", `/history?${query({ user, scenario, limit: 12 })}`),
    ]);
    renderRecommendations(recommendations);
    renderHistory(history);
    rememberSelection(user, scenario);
    setStatus(`User ${user} in ${scenario}: ${recommendations.items.length} recommendations from ${recommendations.model}.`);
  } catch (error) {
    setStatus(error.message, true);
  }
}

function rememberSelection(user, scenario) {
  const url = `${location.pathname}?${query({ user, scenario })}`;
  window.history.replaceState(null, "", url);
}

async function addInteraction(item) {
  const user = $("user").value.trim();
  try {
    await requestJson("POST", "/interactions", { user, items: [item], scenario: $("scenario").value });
    await show();
  } catch (error) {
    setStatus(error.message, true);
  }
}

async function forgetAdded() {
  const user = $("user").value.trim();
  if (!user) return;
  try {
    const result = await requestJson("DELETE", `/interactions?${query({ user })}`);
    await show();
    setStatus(`Forgot ${result.removed} added interactions of user ${user}.`);
  } catch (error) {
    setStatus(error.message, true);
  }
}

async function start() {
  try {
    const [meta, transfer] = await Promise.all([requestJson("GET", "/meta"), requestJson("GET", "/transfer")]);
    state.meta = meta;
    $("run-info").textContent =
      `${meta.model} (seed ${meta.seed}) on ${meta.dataset}: ${meta.n_users} users, ${meta.n_items} items, ` +
      `scenarios by ${meta.scenario_spec}; run ${meta.run_id}`;
    const list = $("user-ids");
    for (const id of meta.users) {
      const option = document.createElement("option");
      option.value = id;
      list.appendChild(option);
    }
    const select = $("scenario");
    for (const name of meta.scenarios) {
      const option = document.createElement("option");
      option.value = name;
      option.textContent = name;
      select.appendChild(option);
    }
    renderTransfer(transfer);

    const params = new URLSearchParams(location.search);
    $("user").value = params.get("user") || meta.users[0] || "";
    if (params.get("scenario") && meta.scenarios.includes(params.get("scenario"))) {
      select.value = params.get("scenario");
    }
    if ($("user").value) await show();
  } catch (error) {
    setStatus(`Cannot reach the service: ${error.message}`, true);
  }
}

$("query").addEventListener("submit", (event) => {
  event.preventDefault();
  show();
});
$("reset").addEventListener("click", forgetAdded);
start();
