// The flavorbox console: one page over the node's JSON API.
//
// Every element is built with DOM calls and every string a server, a
// flavor or a user supplied goes in as a text node or an attribute value,
// never as HTML, so a name, value, label, description or audit field shows
// as the text it is. The token lives in `session` only: no cookie, no
// storage, no URL; reloading the page signs out.
"use strict";

(() => {
  /** The signed-in token and what `/v1/whoami` said of it; null: signed out. */
  let session = null;
  const main = document.getElementById("main");
  const statusLine = document.getElementById("status");
  const SVG = "http://www.w3.org/2000/svg";

  /** An element; attributes by name (`on*` adds a listener), children as text or nodes. */
  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    setUp(node, attributes, children);
    return node;
  }

  function svg(tag, attributes, ...children) {
    const node = document.createElementNS(SVG, tag);
    setUp(node, attributes, children);
    return node;
  }

  function setUp(node, attributes, children) {
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === false || value === null || value === undefined) continue;
      if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }

  function say(text) {
    statusLine.textContent = text;
  }

  class ApiError extends Error {
    constructor(status, kind, message) {
      super(message);
      this.status = status;
      this.kind = kind;
    }
  }

  /** One request to the API with the session's token; the JSON answer, or ApiError. */
  async function api(method, path, body) {
    const headers = { Authorization: "Bearer " + session.token };
    const init = { method, headers, cache: "no-store", credentials: "omit", redirect: "error" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = typeof body === "string" ? body : JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (failed) {
      throw new ApiError(0, "unreachable", "the server did not answer: " + failed.message);
    }
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = null;
    }
    if (!response.ok) {
      const kind = (data && data.error) || "error";
      const message = (data && data.message) || "the server answered " + response.status;
      throw new ApiError(response.status, kind, message);
    }
    return data;
  }

  const enc = encodeURIComponent;
  const managerPath = () => "/v1/managers/" + enc(session.who.manager);
  const secretPath = (name) => managerPath() + "/secrets/" + enc(name);
  const canWrite = () => session.who.role === "write" || session.who.role === "admin";
  const isAdmin = () => session.who.role === "admin";

  function when(ms) {
    if (ms === null || ms === undefined) return "-";
    const date = new Date(Number(ms));
    return isNaN(date.getTime()) ? "-" : date.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  }

  function table(id, caption, headings, rows) {
    return el("div", { class: "table-wrap" },
      el("table", { id },
        el("caption", { class: "skip" }, caption),
        el("thead", {}, el("tr", {}, headings.map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, rows)));
  }

  function labelTags(labels) {
    return Object.entries(labels || {}).map(([k, v]) => el("span", { class: "tag" }, k + "=" + v));
  }

  /** A value shown as text: strings as they are, anything else as JSON. */
  function shown(value) {
    if (value === null) return "none";
    return typeof value === "string" ? value : JSON.stringify(value);
  }

  function pairsList(object) {
    const entries = Object.entries(object || {});
    if (entries.length === 0) return "-";
    return el("ul", {}, entries.map(([k, v]) => el("li", {}, k + ": " + shown(v))));
  }

  // ---- views -------------------------------------------------------------

  function signIn(message) {
    session = null;
    document.getElementById("nav").hidden = true;
    document.getElementById("sign-out").hidden = true;
    document.getElementById("who").textContent = "";
    const input = el("input", { id: "token", name: "token", type: "password", autocomplete: "off", spellcheck: "false", required: true });
    const error = el("p", { id: "sign-in-error", class: "error", role: "alert" }, message || "");
    const form = el("form", { id: "sign-in", onsubmit: (event) => {
      event.preventDefault();
      const token = input.value.trim();
      input.value = "";
      startSession(token, error);
    } },
    el("label", { for: "token" }, "Token"), input,
    el("button", { type: "submit", class: "primary" }, "Sign in"));
    show("Sign in", el("h1", {}, "Sign in"),
      el("p", {}, "Sign in with a token made by `flavorbox token create`. It stays in this tab's memory only: reloading the page signs you out."),
      form, error);
    input.focus();
  }

  async function startSession(token, error) {
    session = { token, who: null, about: null };
    try {
      session.who = await api("GET", "/v1/whoami");
      // The manager's flavor decides whether there is history to show.
      session.about = await api("GET", managerPath());
    } catch (refused) {
      session = null;
      error.textContent = refused.status === 401 ? "That token was refused: it is unknown, expired or revoked." : refused.message;
      return;
    }
    document.getElementById("nav").hidden = false;
    document.getElementById("nav-audit").hidden = !isAdmin();
    document.getElementById("nav-flavors").hidden = !isAdmin();
    document.getElementById("sign-out").hidden = false;
    const who = session.who;
    document.getElementById("who").textContent =
      (who.name ? who.name + " · " : "") + "role " + who.role + " on " + who.manager;
    if (location.hash === "#/secrets") route();
    else location.hash = "#/secrets";
  }

  /** Replaces the page's content, titles it, and moves focus to it. */
  function show(title, ...content) {
    document.title = title + " · flavorbox console";
    main.replaceChildren(...content.filter((part) => part !== null && part !== undefined));
    for (const link of document.querySelectorAll("nav a")) {
      const current = location.hash.startsWith(link.getAttribute("href"));
      if (current) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
  }

  /** Rows drawn at once; more on request, so a large manager draws fast. */
  const ROWS = 200;

  async function secretsView() {
    const listing = session.about.keeps_history
      ? (await api("GET", managerPath() + "/secrets?long=true")).secrets
      : (await api("GET", managerPath() + "/secrets")).secrets.map((name) => ({ name }));
    const search = el("input", { id: "search", type: "search", autocomplete: "off" });
    const schemas = [...new Set(listing.map((s) => s.schema).filter(Boolean))].sort();
    const schemaFilter = el("select", { id: "schema-filter" },
      el("option", { value: "" }, "any schema"), schemas.map((s) => el("option", { value: s }, s)));
    const labelFilter = el("input", { id: "label-filter", type: "search", autocomplete: "off", placeholder: "key or key=value" });
    const count = el("p", { id: "secret-count" });
    const body = el("tbody", {});
    const more = el("button", { id: "show-more", type: "button" });
    let drawn = ROWS;
    const matches = (secret) => {
      const text = search.value.trim().toLowerCase();
      if (text && !secret.name.toLowerCase().includes(text)) return false;
      if (schemaFilter.value && secret.schema !== schemaFilter.value) return false;
      const wanted = labelFilter.value.trim();
      if (wanted) {
        const [key, ...rest] = wanted.split("=");
        const labels = secret.labels || {};
        if (!(key in labels)) return false;
        if (rest.length && labels[key] !== rest.join("=")) return false;
      }
      return true;
    };
    const draw = () => {
      const matching = listing.filter(matches);
      body.replaceChildren(...matching.slice(0, drawn).map((s) => el("tr", {},
        el("td", {}, el("a", { href: "#/secret/" + enc(s.name) }, s.name)),
        el("td", {}, s.schema || "-"),
        el("td", {}, s.current_version === undefined ? "-" : String(s.current_version)),
        el("td", {}, when(s.updated)),
        el("td", {}, labelTags(s.labels)))));
      count.textContent = matching.length + " of " + listing.length + " secrets";
      const left = matching.length - drawn;
      more.hidden = left <= 0;
      more.textContent = "Show " + Math.min(left, ROWS) + " more (of " + left + " not shown)";
    };
    const redraw = () => {
      drawn = ROWS;
      draw();
    };
    more.addEventListener("click", () => {
      drawn += ROWS;
      draw();
    });
    for (const control of [search, schemaFilter, labelFilter]) {
      control.addEventListener("input", redraw);
      control.addEventListener("change", redraw);
    }
    draw();
    const filters = el("form", { id: "filters", role: "search", onsubmit: (e) => e.preventDefault() },
      el("label", {}, "Search by name", search),
      el("label", {}, "Schema", schemaFilter),
      el("label", {}, "Label", labelFilter));
    show("Secrets",
      el("h1", {}, "Secrets of " + session.who.manager),
      canWrite() ? el("p", {}, el("a", { id: "new-secret", href: "#/new" }, "New secret")) : null,
      filters, count,
      el("div", { class: "table-wrap" }, el("table", { id: "secrets" },
        el("caption", { class: "skip" }, "Secrets"),
        el("thead", {}, el("tr", {}, ["Name", "Schema", "Version", "Updated", "Labels"].map((h) => el("th", { scope: "col" }, h)))),
        body)), more);
    search.focus();
  }

  async function secretView(name) {
    // The keys and the history are asked for at once.
    const history = session.about.keeps_history ? historySection(name) : null;
    // Its failure is reported where it is awaited, or not at all when the
    // keys fail first.
    if (history) history.catch(() => {});
    const info = await api("GET", secretPath(name) + "/keys");
    const rows = info.keys.map((key) => keyRow(name, key));
    const parts = [
      el("h1", {}, name),
      el("dl", {}, el("dt", {}, "Schema"), el("dd", {}, info.schema),
        el("dt", {}, "Version"), el("dd", { id: "version" }, info.version === null ? "-" : String(info.version))),
      table("keys", "Keys of " + name, ["Key", "Value", "Actions"], rows),
    ];
    if (canWrite()) parts.push(...writeForms(name));
    if (history) parts.push(await history);
    show(name, ...parts);
    main.focus();
  }

  async function revealValue(secret, key) {
    const data = await api("GET", secretPath(secret) + "?key=" + enc(key));
    return data.values[key];
  }

  function keyRow(secret, key) {
    const cell = el("td", { class: "value" }, el("span", { class: "masked", "aria-label": "hidden value" }, "••••••••"));
    const reveal = el("button", { type: "button", class: "reveal", "aria-pressed": "false", "aria-label": "Reveal " + key });
    reveal.textContent = "Reveal";
    reveal.addEventListener("click", () => guarded(async () => {
      if (reveal.getAttribute("aria-pressed") === "true") {
        cell.replaceChildren(el("span", { class: "masked", "aria-label": "hidden value" }, "••••••••"));
        reveal.textContent = "Reveal";
        reveal.setAttribute("aria-pressed", "false");
        return;
      }
      const value = await revealValue(secret, key);
      cell.replaceChildren(el("span", { class: "revealed" }, value));
      reveal.textContent = "Hide";
      reveal.setAttribute("aria-pressed", "true");
    }));
    const copy = el("button", { type: "button", class: "copy", "aria-label": "Copy " + key }, "Copy");
    copy.addEventListener("click", () => guarded(async () => {
      if (!navigator.clipboard) throw new Error("the clipboard needs HTTPS or a loopback address");
      const value = await revealValue(secret, key);
      await navigator.clipboard.writeText(value);
      say("Copied the value of " + key + " to the clipboard.");
    }));
    const actions = el("td", { class: "actions" }, reveal, copy);
    if (canWrite()) {
      actions.append(el("button", { type: "button", class: "remove danger", "aria-label": "Remove " + key, onclick: () => guarded(async () => {
        await api("PATCH", secretPath(secret), { remove: [key] });
        say("Removed key " + key + ".");
        await route();
      }) }, "Remove"));
    }
    return el("tr", {}, el("th", { scope: "row" }, key), cell, actions);
  }

  function writeForms(name) {
    const key = el("input", { id: "set-key", autocomplete: "off", required: true });
    const value = el("input", { id: "set-value", type: "password", autocomplete: "off", required: true });
    const setForm = el("form", { id: "set-form", onsubmit: (e) => {
      e.preventDefault();
      guarded(async () => {
        await api("PATCH", secretPath(name), pairsBody("values", [[key.value, value.value]]));
        say("Saved key " + key.value + ".");
        await route();
      });
    } }, el("label", {}, "Key", key), el("label", {}, "Value", value),
    el("button", { type: "submit", class: "primary" }, "Set value"));
    const confirm = el("div", { id: "confirm", hidden: true },
      el("p", {}, "Delete " + name + "? Where its flavor keeps history it can be restored; otherwise it is gone."),
      el("button", { id: "confirm-delete", type: "button", class: "danger", onclick: () => guarded(async () => {
        await api("DELETE", secretPath(name));
        say("Deleted " + name + ".");
        location.hash = "#/secrets";
      }) }, "Confirm delete"),
      el("button", { type: "button", onclick: () => { confirm.hidden = true; } }, "Cancel"));
    const remove = el("button", { id: "delete-secret", type: "button", class: "danger", onclick: () => {
      confirm.hidden = false;
      confirm.querySelector("button").focus();
    } }, "Delete secret");
    return [el("h2", {}, "Set a value"), setForm, el("h2", {}, "Delete"), remove, confirm];
  }

  /** A JSON object of pairs as given (a key twice stays twice, so the API's input rules refuse it). */
  function pairsBody(field, pairs) {
    const members = pairs.map(([k, v]) => JSON.stringify(k) + ":" + JSON.stringify(v));
    return "{" + JSON.stringify(field) + ":{" + members.join(",") + "}}";
  }

  async function historySection(name) {
    const history = await api("GET", secretPath(name) + "/versions");
    const current = history.metadata.current_version;
    const rows = history.versions.slice().reverse().map((v) => el("tr", {},
      el("td", {}, String(v.version)), el("td", {}, when(v.created)), el("td", {}, v.state),
      el("td", {}, v.author || "-"),
      el("td", {}, canWrite() && v.version !== current && v.state === "previous"
        ? el("button", { type: "button", class: "rollback", "aria-label": "Roll back to version " + v.version, onclick: () => guarded(async () => {
          await api("POST", secretPath(name) + "/rollback", { to: v.version });
          say("Rolled " + name + " back to version " + v.version + ".");
          await route();
        }) }, "Roll back")
        : "")));
    return el("section", {}, el("h2", {}, "History"),
      table("history", "Versions of " + name, ["Version", "Created", "State", "Author", ""], rows));
  }

  function newSecretView() {
    if (!canWrite()) throw new ApiError(403, "forbidden", "creating a secret needs a write token; this one is " + session.who.role);
    const name = el("input", { id: "new-name", autocomplete: "off", required: true });
    const schema = el("input", { id: "new-schema", autocomplete: "off", value: "arbitrary" });
    const pairs = el("div", { id: "new-pairs", class: "actions" });
    const addPair = () => {
      const i = pairs.children.length;
      pairs.append(el("div", { class: "actions" },
        el("label", {}, "Key " + (i + 1), el("input", { id: "new-key-" + i, class: "pair-key", autocomplete: "off" })),
        el("label", {}, "Value " + (i + 1), el("input", { id: "new-value-" + i, class: "pair-value", type: "password", autocomplete: "off" }))));
    };
    addPair();
    const error = el("p", { id: "form-error", class: "error", role: "alert" });
    const form = el("form", { id: "new-form", onsubmit: (e) => {
      e.preventDefault();
      error.textContent = "";
      const keys = [...pairs.querySelectorAll(".pair-key")].map((i) => i.value);
      const values = [...pairs.querySelectorAll(".pair-value")].map((i) => i.value);
      const given = keys.map((k, i) => [k, values[i]]).filter(([k, v]) => k !== "" || v !== "");
      const body = "{" + JSON.stringify("name") + ":" + JSON.stringify(name.value) + "," +
        JSON.stringify("schema") + ":" + JSON.stringify(schema.value || "arbitrary") + "," +
        pairsBody("values", given).slice(1);
      api("POST", managerPath() + "/secrets", body).then(() => {
        say("Created " + name.value + ".");
        location.hash = "#/secret/" + enc(name.value);
      }, (refused) => {
        if (refused.status === 401) return signIn("Your session ended: the token is no longer valid.");
        error.textContent = refused.message;
      });
    } },
    el("label", {}, "Name", name), el("label", {}, "Schema", schema), pairs,
    el("button", { type: "button", id: "add-pair", onclick: addPair }, "Add a key"),
    el("button", { type: "submit", class: "primary" }, "Create"));
    show("New secret", el("h1", {}, "New secret"), form, error);
    name.focus();
  }

  async function auditView() {
    const query = new URLSearchParams(location.hash.split("?")[1] || "");
    const field = (id, label, type) => el("label", {}, label,
      el("input", { id, name: id, type: type || "text", autocomplete: "off", value: query.get(id) || "" }));
    const form = el("form", { id: "audit-filter", role: "search", onsubmit: (e) => {
      e.preventDefault();
      const asked = new URLSearchParams();
      for (const input of form.querySelectorAll("input")) if (input.value) asked.set(input.name, input.value);
      location.hash = "#/audit?" + asked.toString();
    } },
    field("manager", "Manager"), field("token", "Token id"), field("outcome", "Outcome"),
    field("since", "Since (UTC)", "datetime-local"), field("until", "Until (UTC)", "datetime-local"),
    el("button", { type: "submit", class: "primary" }, "Filter"));
    const asked = new URLSearchParams({ limit: "500" });
    for (const key of ["manager", "token", "outcome"]) if (query.get(key)) asked.set(key, query.get(key));
    const ms = (text) => Date.parse(text + "Z");
    if (query.get("since") && !isNaN(ms(query.get("since")))) asked.set("since_ms", String(ms(query.get("since"))));
    if (query.get("until") && !isNaN(ms(query.get("until")))) asked.set("until_ms", String(ms(query.get("until")) + 59999));
    const entries = (await api("GET", "/v1/audit?" + asked.toString())).entries.reverse();
    const rows = entries.map((e) => el("tr", {},
      el("td", {}, when(e.at_ms)), el("td", {}, String(e.count)), el("td", {}, e.peer),
      el("td", {}, e.token || "-"), el("td", {}, e.manager || "-"), el("td", {}, e.operation),
      el("td", {}, e.secret || "-"), el("td", {}, e.outcome), el("td", {}, String(e.status))));
    show("Audit log", el("h1", {}, "Audit log"), form,
      el("p", { id: "audit-count" }, entries.length + " entries, newest first (at most 500)"),
      table("audit", "Audit log", ["Time", "Count", "Peer", "Token", "Manager", "Operation", "Secret", "Outcome", "Status"], rows));
  }

  async function flavorsView() {
    const flavors = (await api("GET", "/v1/flavors")).flavors;
    const managers = (await api("GET", "/v1/managers")).managers;
    const managerRows = managers.map((m) => el("tr", {},
      el("th", { scope: "row" }, m.name), el("td", {}, m.flavor), el("td", {}, m.active ? "yes" : "")));
    const rows = flavors.map((f) => el("tr", {},
      el("th", { scope: "row" }, f.name, el("div", { class: "who" }, f.description || "")),
      el("td", {}, f.version),
      el("td", { class: "value", title: f.digest }, f.digest.slice(0, 19) + "…"),
      el("td", {}, f.builtin ? "built in" : f.bundled ? "bundled" : "registered"),
      el("td", {}, pairsList(f.policy && f.policy.grants)),
      el("td", {}, pairsList(f.policy && f.policy.limits)),
      el("td", {}, f.evaluated ? el("a", { href: "#/flavor/" + enc(f.name) }, "Report") : "none recorded")));
    show("Flavors", el("h1", {}, "Flavors"),
      table("flavors", "Flavors", ["Flavor", "Version", "Digest", "Kind", "Grants", "Limits", "Evaluate report"], rows),
      el("h2", {}, "Secrets managers"),
      el("p", {}, "A token opens the one secrets manager it was made for; these are all of this store's."),
      table("managers", "Secrets managers", ["Name", "Flavor", "Active"], managerRows));
  }

  async function reportView(name) {
    const answer = await api("GET", "/v1/flavors/" + enc(name) + "/evaluation");
    const r = answer.report;
    const checks = (r.checks || []).map((c) => el("tr", {},
      el("td", {}, c.name), el("td", { class: c.status === "pass" ? "pass" : "fail" }, c.status), el("td", {}, c.detail || "")));
    const findings = (r.findings || []).map((f) => el("tr", {}, el("td", {}, f.kind), el("td", {}, f.detail)));
    const latencies = Object.entries(r.p50_micros || {});
    const names = (set) => (set && set.length ? set.join(", ") : "-");
    show("Report of " + name,
      el("h1", {}, "Evaluate report: " + name),
      el("p", { id: "verdict", class: r.passed ? "pass" : "fail" }, r.passed ? "PASS" : "FAIL"),
      el("dl", {},
        el("dt", {}, "Digest"), el("dd", { class: "value" }, answer.digest),
        el("dt", {}, "Component"), el("dd", {}, r.path + " (" + r.size_bytes + " bytes)"),
        el("dt", {}, "Contract"), el("dd", {}, r.contract || "unknown"),
        el("dt", {}, "Peak memory"), el("dd", {}, (r.peak_memory_bytes / 1048576).toFixed(1) + " MiB"),
        el("dt", {}, "Declared"), el("dd", {}, names(r.declared)),
        el("dt", {}, "Used"), el("dd", {}, names(r.used))),
      el("h2", {}, "Checks"), table("checks", "Checks", ["Check", "Status", "Detail"], checks),
      el("h2", {}, "Breaches and findings"),
      findings.length ? table("findings", "Findings", ["Kind", "Detail"], findings) : el("p", { id: "findings" }, "None."),
      r.findings_left_out ? el("p", {}, r.findings_left_out + " more findings were left out of the recorded report.") : null,
      el("h2", {}, "p50 latency per operation"),
      latencyChart(latencies),
      table("latency", "p50 latency per operation", ["Operation", "p50 (ms)"],
        latencies.map(([op, us]) => el("tr", {}, el("td", {}, op), el("td", {}, (us / 1000).toFixed(3))))));
  }

  /** One bar per operation, drawn as SVG elements (no inline style). */
  function latencyChart(latencies) {
    const widest = Math.max(1, ...latencies.map(([, us]) => us));
    const bar = 22;
    const height = latencies.length * bar + 4;
    const chart = svg("svg", { id: "latency-chart", class: "chart", viewBox: "0 0 600 " + height, width: "100%", role: "img", "aria-label": "p50 latency per operation; the table below lists the figures" });
    latencies.forEach(([op, us], i) => {
      const y = i * bar + 2;
      chart.append(
        svg("text", { x: 0, y: y + 15 }, op),
        svg("rect", { x: 190, y, height: bar - 6, width: Math.max(1, Math.round((us / widest) * 300)) }),
        svg("text", { x: 500, y: y + 15 }, (us / 1000).toFixed(3) + " ms"));
    });
    return chart;
  }

  // ---- routing -----------------------------------------------------------

  /** Runs `work`, showing its error in the status line (a refused token signs out). */
  async function guarded(work) {
    try {
      await work();
    } catch (failed) {
      if (failed.status === 401) return signIn("Your session ended: the token is no longer valid.");
      say("Error: " + failed.message);
    }
  }

  async function route() {
    if (!session) return signIn();
    main.setAttribute("aria-busy", "true");
    try {
      await view();
    } finally {
      main.removeAttribute("aria-busy");
    }
  }

  /** Draws the view the location's hash names. */
  async function view() {
    const hash = location.hash || "#/secrets";
    const [path] = hash.slice(1).split("?");
    const parts = path.split("/").slice(1);
    try {
      if (parts[0] === "secret" && parts[1] !== undefined) await secretView(decodeURIComponent(parts[1]));
      else if (parts[0] === "new") newSecretView();
      else if (parts[0] === "audit") await auditView();
      else if (parts[0] === "flavors") await flavorsView();
      else if (parts[0] === "flavor" && parts[1] !== undefined) await reportView(decodeURIComponent(parts[1]));
      else await secretsView();
    } catch (failed) {
      if (failed.status === 401) return signIn("Your session ended: the token is no longer valid.");
      show("Error", el("h1", {}, "Error"), el("p", { id: "page-error", class: "error", role: "alert" }, failed.message));
    }
  }

  document.getElementById("sign-out").addEventListener("click", () => {
    // Replacing the hash fires no hashchange: the sign-in page stays.
    history.replaceState(null, "", "#/");
    signIn("Signed out.");
  });
  window.addEventListener("hashchange", route);
  // The skip link moves focus only; following its `#main` would be a route.
  document.querySelector(".skip").addEventListener("click", (event) => {
    event.preventDefault();
    main.focus();
  });
  route();
})();
